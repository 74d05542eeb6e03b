"""`ragops backup check`: the checks a restore made outside ragops (a point-in-time restore of
the database) needs before traffic is switched to it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import run_cli


def test_check_finds_chunks_without_vectors(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text("# A\n\nAlpha kites fly high.\n")
    (corpus / "b.md").write_text("# B\n\nBeta kites fly low.\n")
    run_cli(data_dir, "ingest", str(corpus))

    healthy = json.loads(run_cli(data_dir, "backup", "check", "--json").stdout)
    assert healthy["revision"] == healthy["head"]
    assert healthy["tables"]["documents"] == 2 and healthy["points"] == healthy["chunks"] > 0

    # the database kept, the vectors lost: as after restoring only the database
    shutil.rmtree(data_dir / "edge")
    broken = run_cli(data_dir, "backup", "check", check=False)
    assert broken.returncode == 1
    assert "chunk rows have no vector point" in broken.stdout

    never = run_cli(tmp_path / "empty", "backup", "check", check=False)
    assert never.returncode == 1 and "never migrated" in never.stdout
