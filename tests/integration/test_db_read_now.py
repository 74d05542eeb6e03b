"""`Database.read_now`: short reads on the calling thread on an SQLite file (no hop to
aiosqlite's thread), on the async engine on PostgreSQL; each read sees every commit made before
it, whichever connection or process made it; a read the loop's connection cannot make is made
on the async engine; a reset reopens the connection on the file now at the path."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from ragops.auth import service
from ragops.auth.service import AuthenticationFailed
from ragops.cache import versions
from ragops.cache.models import CorpusVersion
from ragops.config import Settings
from ragops.db import Database, migrate
from ragops.db.loop_reads import LoopReads, ReadFailed, loop_reads_url
from tests.conftest import make_settings


def test_only_sqlite_files_read_on_the_loop() -> None:
    assert loop_reads_url(make_url("sqlite+aiosqlite:///var/ragops.db")) == make_url(
        "sqlite:///var/ragops.db"
    )
    assert loop_reads_url(make_url("sqlite+aiosqlite://")) is None
    assert loop_reads_url(make_url("sqlite+aiosqlite:///:memory:")) is None
    assert loop_reads_url(make_url("postgresql+asyncpg://u@127.0.0.1/db")) is None


async def test_reads_see_each_commit_at_once(settings: Settings) -> None:
    await migrate.upgrade(settings)
    db = Database(settings)
    other = Database(settings)  # another process's connections, as the CLI's
    try:
        sqlite = settings.resolved_database_url.startswith("sqlite")
        assert (db.loop_reads is not None) is sqlite
        assert await versions.current(db=db, tenant_id="t1", collection="c") == 0
        for expected in (1, 2):
            async with other.session() as session, session.begin():
                await versions.bump(session, tenant_id="t1", collection="c")
            assert await versions.current(db=db, tenant_id="t1", collection="c") == expected
        created = await service.create_key(db=other, tenant_id="t1", scopes=["chat"])
        principal = await service.authenticate(db=db, key=created.key)
        assert (principal.tenant_id, principal.scopes) == ("t1", frozenset({"chat"}))
        await service.revoke_key(db=other, key_id=created.api_key.id, tenant_id="t1")
        with pytest.raises(AuthenticationFailed) as refused:
            await service.authenticate(db=db, key=created.key)
        assert refused.value.reason == "revoked"
        if db.loop_reads is not None:
            assert db.loop_reads.reads == 5  # every read above ran on the loop's connection
    finally:
        await other.dispose()
        await db.dispose()


async def test_the_loop_connection_cannot_write(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "var")
    await migrate.upgrade(settings)
    db = Database(settings)
    try:
        assert db.loop_reads is not None
        with pytest.raises(ReadFailed, match="readonly"):
            db.loop_reads.read(text("DELETE FROM corpus_versions"))
    finally:
        await db.dispose()


async def test_a_locked_database_is_read_on_the_async_engine(tmp_path: Path) -> None:
    """Readers of a WAL database never wait, so the lock here is a rollback journal's: the
    loop's connection gives up after its short busy timeout, the async engine waits."""
    path = tmp_path / "var" / "ragops.db"
    path.parent.mkdir(parents=True)
    setup = sqlite3.connect(path)
    setup.execute("CREATE TABLE t (x INTEGER)")
    setup.execute("INSERT INTO t VALUES (7)")
    setup.commit()
    setup.close()
    db = Database(make_settings(tmp_path / "var", db_pool_timeout=10.0))
    assert db.loop_reads is not None
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(0.5, lambda: writer.execute("COMMIT"))
    try:
        release.start()
        started = time.perf_counter()
        rows = await db.read_now(text("SELECT x FROM t"))
        waited = time.perf_counter() - started
        assert [tuple(r) for r in rows] == [(7,)]
        assert db.loop_reads.reads == 0
        assert waited >= 0.4  # it waited on the async engine for the lock to go
        assert [tuple(r) for r in await db.read_now(text("SELECT x FROM t"))] == [(7,)]
        assert db.loop_reads.reads == 1  # the next read is on the loop again
    finally:
        release.join()
        writer.close()
        await db.dispose()


async def test_a_reset_reads_the_file_now_at_the_path(tmp_path: Path) -> None:
    """A restore puts another file in place (with no server running); after a reset, reads
    are of the new file, not of the one the old connection held open."""
    settings = make_settings(tmp_path / "var")
    await migrate.upgrade(settings)
    db = Database(settings)
    path = Path(db.url.database or "")
    try:
        async with db.session() as session, session.begin():
            await versions.bump(session, tenant_id="t", collection="c")
        assert await versions.current(db=db, tenant_id="t", collection="c") == 1
        with sqlite3.connect(path) as checkpoint:  # as a backup does: the WAL into the file
            checkpoint.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        checkpoint.close()
        copy = tmp_path / "copy.db"
        await asyncio.to_thread(shutil.copyfile, path, copy)
        with sqlite3.connect(copy) as other:
            other.execute("UPDATE corpus_versions SET version = 9")
        other.close()
        for suffix in ("-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        os.replace(copy, path)
        await db.reset_pool()
        assert await versions.current(db=db, tenant_id="t", collection="c") == 9
    finally:
        await db.dispose()


async def test_each_thread_reads_on_its_own_connection(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "var")
    await migrate.upgrade(settings)
    reads = LoopReads(make_url(f"sqlite:///{settings.data_dir / 'ragops.db'}"))
    statement = select(CorpusVersion.version)
    try:
        assert reads.read(statement) == []
        assert await asyncio.to_thread(reads.read, statement) == []
        assert len(reads._open) == 2
    finally:
        reads.close()
    assert reads._open == []
