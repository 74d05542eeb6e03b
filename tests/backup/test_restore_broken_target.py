"""A restore over a target that is itself broken, and the migration forward after a restore.

A forced restore first backs the target up; a target a corrupt write left unreadable (a
garbage SQLite file) or inconsistent (a PostgreSQL schema half migrated) cannot be backed up,
so the restore is refused with nothing changed, naming --raw-safety-copy (the broken files
kept aside byte for byte) and --no-safety-backup; with either it goes through.

The migration forward of a restored PostgreSQL database gives up after the lock timeout when
a running instance holds the migration lock or a table it alters, naming that session, with
the migration rolled back and the restored data intact at the backup's revision."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from ragops.backup import restore as restore_module
from ragops.backup.database import asyncpg_dsn, dump_listing, sqlite_path
from ragops.backup.restore import (
    MigrationLockTimeout,
    RestoreRefused,
    restore_backup,
)
from ragops.backup.service import create_backup
from ragops.config import Settings
from ragops.db import migrate
from ragops.db.locks import MIGRATION_LOCK, lock_id
from ragops.runtime import Runtime
from tests.backup.test_backup_restore import DOCS, _documents, _fill, _live_with_backup
from tests.conftest import backend_settings, run_cli


async def _pg(settings: Settings) -> asyncpg.Connection:
    return await asyncpg.connect(asyncpg_dsn(make_url(settings.resolved_database_url)))


async def _break(settings: Settings) -> bytes | None:
    """Break the live target as a failed write would: SQLite, the file cut short and filled
    with garbage (its bytes are returned); PostgreSQL, a schema half migrated (a column a
    query of the backup reads is gone)."""
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        broken = path.read_bytes()[:4096] + b"\x00garbage after a torn write" * 50
        path.write_bytes(broken)
        for suffix in ("-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        return broken
    conn = await _pg(settings)
    try:
        await conn.execute("ALTER TABLE corpus_versions DROP COLUMN version")
    finally:
        await conn.close()
    return None


async def _still_broken(settings: Settings, broken: bytes | None) -> bool:
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        return sqlite_path(url).read_bytes() == broken
    conn = await _pg(settings)
    try:
        columns = await conn.fetch(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'corpus_versions'"
        )
    finally:
        await conn.close()
    return "version" not in {r[0] for r in columns}


def _raw_copies(settings: Settings) -> list[Path]:
    folder = settings.data_dir / "backups"
    return sorted(p for p in folder.iterdir() if p.name.startswith("ragops-raw-"))


def _partials(settings: Settings) -> list[Path]:
    return [p for p in (settings.data_dir / "backups").iterdir() if p.name.startswith(".")]


async def test_restore_over_a_broken_target(settings: Settings) -> None:
    backup = await _live_with_backup(settings)
    broken = await _break(settings)

    # the safety backup cannot read it: refused, nothing changed, the options named
    with pytest.raises(RestoreRefused) as refused:
        await restore_backup(backup, settings=settings, key=None, force=True)
    message = str(refused.value)
    assert "the safety backup of the target failed, so nothing was changed" in message
    assert "--raw-safety-copy" in message and "--no-safety-backup" in message
    assert await _still_broken(settings, broken)
    assert _partials(settings) == [] and _raw_copies(settings) == []
    if broken is not None:  # an unreadable file counts as data: --force is still needed
        with pytest.raises(RestoreRefused, match="cannot be read .* pass --force"):
            await restore_backup(backup, settings=settings, key=None)

    # --raw-safety-copy: the broken files kept aside unchanged, then the restore
    report = await restore_backup(backup, settings=settings, key=None, force=True, safety="raw")
    assert report.verification.ok, report.verification.lines()
    assert report.safety_backup is None and not report.safety_skipped
    raw = report.raw_safety_copy
    assert raw is not None and raw == _raw_copies(settings)[0] and _partials(settings) == []
    assert (raw / "vectors").is_dir() and "put it back" in (raw / "README.txt").read_text()
    if broken is not None:
        assert (raw / "ragops.db").read_bytes() == broken
    else:
        listing = await dump_listing(raw / "database.dump", 15)
        assert "TABLE public corpus_versions" in listing and "TABLE public chunks" in listing
    assert await _documents(settings) == set(DOCS)

    # --no-safety-backup: replaced, nothing kept
    broken = await _break(settings)
    report = await restore_backup(backup, settings=settings, key=None, force=True, safety="none")
    assert report.verification.ok, report.verification.lines()
    assert report.safety_skipped and report.raw_safety_copy is None
    assert len(_raw_copies(settings)) == 1
    assert await _documents(settings) == set(DOCS)

    if broken is None:  # a PostgreSQL database that will not open: refused, one reason
        name = make_url(settings.resolved_database_url).database
        admin = await asyncpg.connect(
            asyncpg_dsn(make_url(settings.resolved_database_url).set(database="postgres"))
        )
        try:
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            with pytest.raises(RestoreRefused, match="cannot be opened .*nothing was changed"):
                await restore_backup(backup, settings=settings, key=None, force=True)
        finally:
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            await admin.close()


def test_cli_over_a_broken_sqlite_target(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for number in range(3):
        (corpus / f"note-{number}.md").write_text(f"# Note {number}\n\nKites number {number}.\n")
    run_cli(data_dir, "ingest", str(corpus), "-c", "notes")
    made = run_cli(data_dir, "backup", "create", "--to", str(tmp_path / "out"))
    backup = next((tmp_path / "out").iterdir())
    assert "backup written" in made.stdout
    database = data_dir / "ragops.db"
    database.write_bytes(database.read_bytes()[:2048] + b"torn" * 100)
    broken = database.read_bytes()

    refused = run_cli(data_dir, "backup", "restore", str(backup), "--live", "--force", check=False)
    assert refused.returncode == 1 and "--raw-safety-copy" in refused.stderr
    assert "nothing was changed" in refused.stderr and database.read_bytes() == broken
    alone = run_cli(
        data_dir, "backup", "restore", str(backup), "--live", "--raw-safety-copy", check=False
    )
    assert alone.returncode == 1 and "add --force" in alone.stderr
    both = ("--raw-safety-copy", "--no-safety-backup")
    clash = run_cli(
        data_dir, "backup", "restore", str(backup), "--live", "--force", *both, check=False
    )
    assert clash.returncode == 1 and "exclude each other" in clash.stderr

    done = run_cli(
        data_dir, "backup", "restore", str(backup), "--live", "--force", "--raw-safety-copy"
    )
    assert "raw safety copy of the replaced files" in done.stdout
    assert "verification: OK" in done.stdout
    (raw,) = [p for p in (data_dir / "backups").iterdir() if p.name.startswith("ragops-raw-")]
    assert (raw / "ragops.db").read_bytes() == broken


@pytest.fixture
async def old_backup(tmp_path: Path) -> AsyncIterator[tuple[Settings, Path]]:
    """PostgreSQL: a filled instance downgraded to 0006 (before the audit chain, 0007, which
    alters audit_events) and a backup of it at that revision."""
    with backend_settings("postgres", tmp_path / "var") as settings:
        yield settings, await _backup_at_0006(settings)


async def _backup_at_0006(settings: Settings) -> Path:
    """A filled instance of `settings` downgraded to 0006, backed up at that revision."""
    await migrate.upgrade(settings)
    runtime = await Runtime.start(settings)
    try:
        await _fill(runtime)
        await migrate.downgrade(settings, "0006")
        result = await create_backup(settings=settings, store=runtime.store)
    finally:
        await runtime.aclose()
    assert result.manifest.migration_revision == "0006"
    return result.path


@pytest.fixture
async def pg_target(old_backup: tuple[Settings, Path], tmp_path: Path) -> AsyncIterator[Settings]:
    """A new, empty PostgreSQL database and data directory to restore into."""
    from ragops.backup.database import pg_create_database, pg_drop_database

    settings = old_backup[0]
    url = make_url(settings.resolved_database_url)
    target = url.set(database=f"{url.database}_target")
    await pg_create_database(target)
    update: dict[str, Any] = {
        "data_dir": tmp_path / "restored",
        "database_url": target.render_as_string(hide_password=False),
    }
    try:
        yield settings.model_copy(update=update)
    finally:
        await pg_drop_database(target)


async def _instance(settings: Settings) -> asyncpg.Connection:
    """A session as a running instance's: named, on the target database."""
    return await asyncpg.connect(
        asyncpg_dsn(make_url(settings.resolved_database_url)),
        server_settings={"application_name": "ragops-instance-b"},
    )


async def test_migration_after_restore_gives_up_on_a_held_table(
    old_backup: tuple[Settings, Path], pg_target: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An instance's open transaction on audit_events (restored tables are new objects, so it
    takes it after the restore): the migration to 0007 cannot alter it."""
    _, backup = old_backup
    holders: list[asyncpg.Connection] = []
    restore_vectors = restore_module.restore_vectors

    async def then_an_instance_reads(*args: Any) -> None:
        await restore_vectors(*args)
        holder = await _instance(pg_target)
        await holder.execute("BEGIN; SELECT count(*) FROM audit_events")
        holders.append(holder)

    monkeypatch.setattr(restore_module, "restore_vectors", then_an_instance_reads)
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(MigrationLockTimeout) as gave_up:
            await restore_backup(backup, settings=pg_target, key=None, lock_timeout=1.0)
        waited = asyncio.get_running_loop().time() - started
        message = str(gave_up.value)
        pid = holders[0].get_server_pid()
        assert f"pid {pid} (application ragops-instance-b" in message
        assert "holds audit_events" in message
        assert "from schema 0006 to" in message and "intact at schema 0006" in message
        assert "ragops db upgrade" in message and "--lock-timeout" in message
        assert waited < 30
        # rolled back: the restored data at the backup's revision, untouched
        assert await migrate.current_revision(pg_target) == "0006"
        assert await _documents_raw(pg_target) == len(DOCS)
    finally:
        for holder in holders:
            await holder.close()
    # the instance gone, the migration the message names goes through
    await migrate.upgrade(pg_target)
    assert await migrate.current_revision(pg_target) == migrate.head_revision()


async def test_migration_after_restore_gives_up_on_the_migration_lock(
    old_backup: tuple[Settings, Path], pg_target: Settings
) -> None:
    """An instance migrating (it holds the migration lock) while `ragops backup restore`
    migrates: one line naming it, exit 1, no traceback, the restored data intact."""
    _, backup = old_backup
    holder = await _instance(pg_target)
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", lock_id(MIGRATION_LOCK))
        args = ["backup", "restore", str(backup), "--target", str(pg_target.data_dir)]
        args += ["--database-url", pg_target.resolved_database_url, "--lock-timeout", "1"]
        done = await asyncio.to_thread(run_cli, pg_target.data_dir, *args, check=False)
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"pid {holder.get_server_pid()} (application ragops-instance-b" in done.stderr
        assert "intact at schema 0006" in done.stderr and "waited more than 1 s" in done.stderr
        assert await migrate.current_revision(pg_target) == "0006"
        assert await _documents_raw(pg_target) == len(DOCS)
    finally:
        await holder.close()
    # a restore finding the lock free migrates (the target holds data now: --force)
    report = await restore_backup(backup, settings=pg_target, key=None, force=True)
    assert report.migrated_from == "0006" and report.migrated_to == migrate.head_revision()
    assert report.verification.ok, report.verification.lines()


async def _documents_raw(settings: Settings) -> int:
    conn = await _pg(settings)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM documents"))
    finally:
        await conn.close()


async def test_sqlite_backup_is_migrated_before_it_is_put_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite: the unpacked copy is migrated forward before it is renamed into place, so a
    process that opens the restored file at once and holds its write lock cannot stall it."""
    import sqlite3

    with backend_settings("sqlite", tmp_path / "var") as settings:
        backup = await _backup_at_0006(settings)
    target = settings.model_copy(update={"data_dir": tmp_path / "restored"})
    writers: list[sqlite3.Connection] = []
    restore_vectors = restore_module.restore_vectors

    async def then_a_writer_holds_it(*args: Any) -> None:
        await restore_vectors(*args)
        writer = sqlite3.connect(sqlite_path(target.resolved_database_url), timeout=0.1)
        writer.execute("BEGIN IMMEDIATE")
        writers.append(writer)

    monkeypatch.setattr(restore_module, "restore_vectors", then_a_writer_holds_it)
    try:
        report = await restore_backup(backup, settings=target, key=None, lock_timeout=1.0)
    finally:
        for writer in writers:
            writer.close()
    assert writers, "the writer never held the restored file"
    assert report.migrated_from == "0006" and report.migrated_to == migrate.head_revision()
    assert report.verification.ok, report.verification.lines()
    assert await migrate.current_revision(target) == migrate.head_revision()
    assert await _documents(target) == set(DOCS)
