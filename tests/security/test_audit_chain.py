"""The audit trail's hash chain, on SQLite and PostgreSQL: rows written before migration 0007
are chained by it, concurrent writers keep one unbroken chain, and a changed, deleted or
reordered row is detected (`ragops audit-log verify` exits 1 and says where). Retention
exports, removes and leaves a chain that still verifies.

Tampering is done as the database owner with the append-only trigger set aside, which is what
the service's own account could do before the role split (see test_audit_roles.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ragops.auth.audit import record_event
from ragops.auth.chain import verify
from ragops.auth.retention import _restore, _set_aside, prune
from ragops.config import Settings
from ragops.db import Database, migrate
from ragops.db.base import utcnow
from tests.conftest import run_cli

OLD_ROW = text(
    "INSERT INTO audit_events (at, action, outcome, tenant_id, detail) "
    "VALUES (:at, :action, 'success', 'default', :detail)"
)


async def _tamper(db: Database, work: Callable[[AsyncConnection], Awaitable[None]]) -> None:
    async with db.engine.begin() as conn:
        await _set_aside(conn)
        await work(conn)
        await _restore(conn)


async def _events(db: Database, count: int, prefix: str = "test.event") -> None:
    await asyncio.gather(
        *(record_event(db=db, action=f"{prefix}.{i}", detail={"n": i}) for i in range(count))
    )


async def test_migration_chains_old_rows_and_writers_keep_one_chain(settings: Settings) -> None:
    await migrate.upgrade(settings, "0006")
    db = Database(settings)
    try:
        async with db.engine.begin() as conn:
            for i in range(3):
                params = {"at": utcnow(), "action": f"old.{i}", "detail": json.dumps({"i": i})}
                await conn.execute(OLD_ROW, params)
        await migrate.upgrade(settings)
        second = Database(settings)  # another instance's engine
        try:
            await asyncio.gather(_events(db, 15, "first"), _events(second, 15, "second"))
        finally:
            await second.dispose()
        result = await verify(db)
        assert result.intact, result.problems
        assert (result.rows, result.first_seq, result.last_seq) == (33, 1, 33)
        assert result.unchained == 0
    finally:
        await db.dispose()


@pytest.mark.parametrize("tampering", ["changed", "deleted", "reordered", "cut off the end"])
async def test_tampering_is_detected(settings: Settings, tampering: str) -> None:
    await migrate.upgrade(settings)
    db = Database(settings)
    try:
        await _events(db, 6)
        assert (await verify(db)).intact

        async def change(conn: AsyncConnection) -> None:
            if tampering == "changed":
                await conn.execute(
                    text("UPDATE audit_events SET outcome = 'denied' WHERE chain_seq = 3")
                )
            elif tampering == "deleted":
                await conn.execute(text("DELETE FROM audit_events WHERE chain_seq = 4"))
            elif tampering == "reordered":
                for old, new in ((2, -2), (5, 2), (-2, 5)):
                    await conn.execute(
                        text("UPDATE audit_events SET chain_seq = :new WHERE chain_seq = :old"),
                        {"new": new, "old": old},
                    )
            else:
                await conn.execute(text("DELETE FROM audit_events WHERE chain_seq = 6"))

        await _tamper(db, change)
        result = await verify(db)
        assert not result.intact
        where = {"changed": "sequence 3", "deleted": "before sequence 5", "reordered": "sequence 2"}
        expected = where.get(tampering, "after sequence 5")
        assert any(expected in problem for problem in result.problems), result.problems
    finally:
        await db.dispose()


async def test_prune_exports_removes_and_the_rest_still_verifies(
    settings: Settings, tmp_path: Path
) -> None:
    await migrate.upgrade(settings)
    db = Database(settings)
    try:
        await _events(db, 5, "old")
        cutoff = utcnow()
        await _events(db, 3, "new")
        export = tmp_path / "audit-export.jsonl"
        result = await prune(settings, before=cutoff, export=export)
        assert (result.rows, result.through_seq) == (5, 5)
        lines = [json.loads(line) for line in export.read_text().splitlines()]
        assert [line["chain_seq"] for line in lines] == [1, 2, 3, 4, 5]
        assert all(line["action"].startswith("old.") for line in lines)
        after = await verify(db)
        assert after.intact, after.problems
        assert (after.rows, after.first_seq) == (3, 6)
        with pytest.raises(Exception, match="exists"):
            await prune(settings, before=cutoff + timedelta(days=1), export=export)

        # a broken chain is never pruned (the export would launder the tampering)
        async def change(conn: AsyncConnection) -> None:
            await conn.execute(text("UPDATE audit_events SET target = 'x' WHERE chain_seq = 7"))

        await _tamper(db, change)
        with pytest.raises(Exception, match="does not verify"):
            await prune(settings, before=utcnow(), export=tmp_path / "second.jsonl")
        assert (await verify(db)).rows == 3
    finally:
        await db.dispose()


def test_verify_command_reports_a_tampered_row(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    run_cli(data_dir, "keys", "create", "--scopes", "chat")
    run_cli(data_dir, "keys", "create", "--scopes", "ingest")
    intact = run_cli(data_dir, "audit-log", "verify")
    assert "the audit chain is intact" in intact.stdout

    from ragops.config import Settings
    from tests.conftest import run_sync

    settings = Settings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]

    async def change() -> None:
        db = Database(settings)
        try:

            async def alter(conn: AsyncConnection) -> None:
                await conn.execute(text("UPDATE audit_events SET tenant_id = 'x' WHERE id = 1"))

            await _tamper(db, alter)
        finally:
            await db.dispose()

    run_sync(change())
    broken = run_cli(data_dir, "audit-log", "verify", check=False)
    assert broken.returncode == 1
    assert "BROKEN: row 1 (sequence 1): its content was changed" in broken.stdout
    report = json.loads(run_cli(data_dir, "audit-log", "verify", "--json", check=False).stdout)
    assert report["intact"] is False and report["rows"] == 2


def test_prune_to_a_path_that_cannot_be_written_is_refused_and_removes_nothing(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "var"
    run_cli(data_dir, "keys", "create", "--scopes", "chat")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    export = blocker / "audit.jsonl"
    refused = run_cli(
        data_dir,
        "audit-log",
        "prune",
        "--before",
        "1m",
        "--export",
        str(export),
        "--yes",
        check=False,
    )
    assert refused.returncode == 1
    assert f"error: cannot write the export to {export}" in refused.stderr
    assert "nothing removed" in refused.stderr
    assert not list(tmp_path.glob("**/*.partial"))
    report = json.loads(run_cli(data_dir, "audit-log", "verify", "--json").stdout)
    assert report["intact"] is True and report["rows"] == 1


def test_prune_prints_its_result_and_no_audit_log_line(tmp_path: Path) -> None:
    """Like every command, prune's own successful audit event is a row, not a line on stderr
    at the default log level (RAGOPS_LOG_LEVEL=DEBUG shows it)."""
    data_dir = tmp_path / "var"
    run_cli(data_dir, "keys", "create", "--scopes", "chat")
    export = tmp_path / "audit.jsonl"
    args = ("audit-log", "prune", "--before", "1m", "--export", str(export), "--yes")
    pruned = run_cli(data_dir, *args, env={"RAGOPS_LOG_LEVEL": "INFO"})
    assert pruned.stdout.startswith("exported 0 events"), pruned.stdout
    assert "audit_event" not in pruned.stdout + pruned.stderr
    log = run_cli(data_dir, "audit-log", "--action", "audit.prune", "--json").stdout
    assert [json.loads(line)["action"] for line in log.splitlines()] == ["audit.prune"]
