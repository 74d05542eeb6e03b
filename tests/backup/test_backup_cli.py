"""`ragops backup` as a user runs it (real processes): beside a running `ragops serve` the
backup goes through the server's API (it holds the embedded store), with a progress bar and
the file moved to --to; verify and restore work on the file; a corrupted backup and a restore
over the running instance are refused with one line and exit 1; only an admin key of the
operator tenant may ask the server for a backup."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServedCli, run_cli, serve_cli

pytestmark = pytest.mark.timeout(600)  # about ten real processes on a shared machine


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedCli]:
    data_dir = tmp_path_factory.mktemp("backup-cli") / "var"
    with serve_cli(data_dir) as server:
        yield server


def test_backup_beside_the_server_then_verify_and_restore(
    served: ServedCli, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for number in range(6):
        (corpus / f"note-{number}.md").write_text(f"# Note {number}\n\nKites number {number}.\n")
    run_cli(served.data_dir, "ingest", str(corpus), "-c", "notes")
    out = tmp_path / "backups"

    first = run_cli(served.data_dir, "backup", "create", "--to", str(out), "--json")
    made = json.loads(first.stdout)
    assert Path(made["path"]).parent == out and Path(made["path"]).exists()
    assert made["manifest"]["database"]["tables"]["documents"] == 6
    assert made["manifest"]["vectors"]["points"] == made["manifest"]["database"]["tables"]["chunks"]
    second = run_cli(served.data_dir, "backup", "create", "--to", str(out), "--keep", "1")
    assert "backup written" in second.stdout and "pruned 1 older" in second.stdout
    backups = sorted(out.iterdir())
    assert len(backups) == 1 and not Path(made["path"]).exists()
    # the server still answers
    assert httpx.get(f"{served.url}/healthz").status_code == 200

    checked = run_cli(served.data_dir, "backup", "verify", str(backups[0]))
    assert "verification: OK" in checked.stdout and "recovery time" in checked.stdout
    # create and verify count the same rows (the schema's version row is not data)
    written = re.search(r"(\d+) rows in \d+ tables", second.stdout)
    verified = re.search(r"\((\d+) rows and", checked.stdout)
    assert written and verified and written.group(1) == verified.group(1), (
        second.stdout + checked.stdout
    )

    # never over the running instance, --force or not (it holds the embedded store)
    forced = run_cli(
        served.data_dir, "backup", "restore", str(backups[0]), "--live", "--force", check=False
    )
    assert forced.returncode == 1 and "stop it first" in forced.stderr

    target = tmp_path / "restored"
    restored = run_cli(
        served.data_dir, "backup", "restore", str(backups[0]), "--target", str(target), "--json"
    )
    report = json.loads(restored.stdout)
    assert report["ok"] and report["rows"]["documents"] == 6 and report["missing_points"] == 0

    broken = tmp_path / "broken.tar"
    data = bytearray(backups[0].read_bytes())
    data[len(data) // 3] ^= 0xFF
    broken.write_bytes(bytes(data))
    refused = run_cli(served.data_dir, "backup", "verify", str(broken), check=False)
    assert refused.returncode == 1 and "invalid" in refused.stderr


def test_only_the_operator_tenant_may_back_up(served: ServedCli) -> None:
    made = run_cli(
        served.data_dir, "keys", "create", "--tenant", "acme", "--scopes", "admin", "--json"
    )
    key = json.loads(made.stdout)["key"]
    response = httpx.post(
        f"{served.url}/v1/ops/backups", json={}, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 403
    assert httpx.post(f"{served.url}/v1/ops/backups", json={}).status_code == 401


def test_the_server_backs_up_on_a_request_without_a_body(served: ServedCli) -> None:
    """`POST /v1/ops/backups` as docs/cli.md shows it: every option is optional."""
    made = run_cli(served.data_dir, "keys", "create", "--scopes", "admin", "--json")
    key = json.loads(made.stdout)["key"]
    response = httpx.post(
        f"{served.url}/v1/ops/backups", headers={"Authorization": f"Bearer {key}"}, timeout=120
    )
    assert response.status_code == 200, response.text
    last = json.loads(response.text.splitlines()[-1])
    assert Path(last["result"]["path"]).exists(), last


def test_a_backup_folder_that_cannot_be_made_is_refused_before_the_server_backs_up(
    served: ServedCli, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    server_dir = served.data_dir / "backups"
    before = sorted(server_dir.glob("*")) if server_dir.exists() else []
    refused = run_cli(
        served.data_dir, "backup", "create", "--to", str(blocker / "backups"), check=False
    )
    assert refused.returncode == 1
    assert f"error: cannot write backups to {blocker / 'backups'}" in refused.stderr
    assert (sorted(server_dir.glob("*")) if server_dir.exists() else []) == before


def test_check_of_a_database_that_does_not_exist_is_one_line(tmp_path: Path) -> None:
    from tests.conftest import PG_HOST, PG_PORT, PG_USER

    missing = f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/ragops_no_such_database"
    refused = run_cli(tmp_path / "var", "backup", "check", "--database-url", missing, check=False)
    assert refused.returncode == 1
    assert "error: the database refused the connection:" in refused.stderr
    assert 'database "ragops_no_such_database" does not exist' in refused.stderr


def test_a_backup_folder_the_server_s_backup_cannot_be_moved_into(
    served: ServedCli, tmp_path: Path
) -> None:
    """The server backs up into its own folder; a --to it cannot be moved into keeps it
    there, says so, and leaves nothing in --to."""
    from tests.backup.test_backup_file_errors import unwritable_dir

    folder, _reason = unwritable_dir(tmp_path)
    before = sorted(p.name for p in folder.iterdir() if "ragops-backup" in p.name)
    refused = run_cli(served.data_dir, "backup", "create", "--to", str(folder), check=False)
    assert refused.returncode == 1
    line = refused.stderr.strip()
    assert line.startswith(f"error: cannot write backups to {folder}: "), line
    assert "Error" not in line and "; nothing written there (the backup is at " in line, line
    kept = Path(line.rsplit("the backup is at ", 1)[1].rstrip(")"))
    assert kept.exists() and kept.parent == served.data_dir / "backups"
    assert sorted(p.name for p in folder.iterdir() if "ragops-backup" in p.name) == before
