"""`ragops backup check`: the checks a restore made outside ragops (a point-in-time restore of
the database) needs before traffic is switched to it."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from tests.conftest import run_cli


def _two_documents(tmp_path: Path) -> Path:
    """The data directory of an instance with two small documents ingested by the CLI."""
    data_dir = tmp_path / "var"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text("# A\n\nAlpha kites fly high.\n")
    (corpus / "b.md").write_text("# B\n\nBeta kites fly low.\n")
    run_cli(data_dir, "ingest", str(corpus))
    return data_dir


def test_check_finds_chunks_without_vectors(tmp_path: Path) -> None:
    data_dir = _two_documents(tmp_path)

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


def test_check_finds_documents_without_chunks_and_a_broken_audit_chain(tmp_path: Path) -> None:
    """What `store check` and `audit-log verify` would find in a restored database is found by
    `backup check` too: a document whose chunk rows are gone answers nothing, and a trail whose
    hash chain is broken fails its verification."""
    data_dir = _two_documents(tmp_path)
    healthy = json.loads(run_cli(data_dir, "backup", "check", "--json").stdout)
    assert healthy["documents_without_chunks"] == []
    assert healthy["audit"]["events"] > 0 and healthy["audit"]["problems"] == []
    assert healthy["problems"] == []
    said = run_cli(data_dir, "backup", "check").stdout
    assert "chain intact" in said and "documents without chunk rows: 0" in said

    with sqlite3.connect(data_dir / "ragops.db") as db:  # rows deleted and changed by hand
        db.execute(
            "DELETE FROM chunks WHERE document_id = (SELECT id FROM documents WHERE source = ?)",
            ("b.md",),
        )
        db.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        db.execute("UPDATE audit_events SET outcome = 'denied' WHERE chain_seq = 1")
    broken = run_cli(data_dir, "backup", "check", check=False)
    assert broken.returncode == 1, broken.stdout
    assert "1 documents have no chunk rows for their current version" in broken.stdout
    assert "default/default/b.md" in broken.stdout
    assert "the audit trail's hash chain is broken" in broken.stdout
    found = json.loads(run_cli(data_dir, "backup", "check", "--json", check=False).stdout)
    assert len(found["documents_without_chunks"]) == 1 and found["audit"]["problems"]
    assert len(found["problems"]) == 2  # stdout is the JSON alone
