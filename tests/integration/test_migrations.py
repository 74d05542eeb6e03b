"""The same Alembic migrations run up and down on SQLite and on PostgreSQL, and the schema
they build is exactly the one the models declare."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

import ragops.models  # noqa: F401
from ragops.config import Settings
from ragops.db import migrate
from ragops.db.base import Base

TABLES = {"collections", "documents", "chunks", "chat_sessions", "messages", "feedback"}


async def _tables(settings: Settings) -> set[str]:
    engine = create_async_engine(settings.resolved_database_url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def _diff(settings: Settings) -> list[Any]:
    engine = create_async_engine(settings.resolved_database_url)
    try:
        async with engine.connect() as conn:

            def compare(sync_conn: Any) -> list[Any]:
                context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
                return list(compare_metadata(context, Base.metadata))

            return await conn.run_sync(compare)
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade(settings: Settings) -> None:
    assert await migrate.current_revision(settings) is None
    await migrate.upgrade(settings)
    assert TABLES <= await _tables(settings)
    assert await migrate.current_revision(settings) == migrate.head_revision()

    await migrate.downgrade(settings, "base")
    assert not (TABLES & await _tables(settings))
    assert await migrate.current_revision(settings) is None

    await migrate.upgrade(settings)
    assert TABLES <= await _tables(settings)


async def test_migrated_schema_matches_the_models(settings: Settings) -> None:
    await migrate.upgrade(settings)
    assert await _diff(settings) == []


async def _populate(settings: Settings) -> None:
    """Rows in the main tables, written through the models and services of this release."""
    from ragops.auth import service as keys
    from ragops.auth.audit import record_event
    from ragops.chat.models import ChatSession, Feedback, Message
    from ragops.db import Database
    from ragops.db.base import utcnow
    from ragops.documents.models import Chunk, Collection, Document

    db = Database(settings)
    try:
        await keys.create_key(db=db, tenant_id="acme", scopes=["chat"], name="round trip")
        for i in range(3):
            await record_event(db=db, action=f"test.{i}", detail={"i": i, "text": "é"})
        now = utcnow()
        async with db.session() as session, session.begin():
            session.add(Collection(id="c1", tenant_id="acme", name="ops", created_at=now))
            await session.flush()
            session.add(
                Document(
                    id="d1", tenant_id="acme", collection_id="c1", source="a.md", title="A",
                    media_type="text/markdown", size_bytes=10, content_hash="0" * 64,
                    version=2, chunk_count=1, created_at=now, updated_at=now,
                )
            )  # fmt: skip
            await session.flush()
            session.add(
                Chunk(
                    id="k1", document_id="d1", version=2, ordinal=0, section="Intro",
                    start_offset=0, end_offset=5, text="hello", quoted=[[0, 2]],
                )
            )  # fmt: skip
            session.add(ChatSession(id="s1", tenant_id="acme", collection="ops", created_at=now,
                                    updated_at=now))  # fmt: skip
            await session.flush()
            session.add(Message(id="m1", session_id="s1", role="assistant", content="hi",
                                citations=[{"n": 1}], created_at=now))  # fmt: skip
            await session.flush()
            session.add(Feedback(id="f1", message_id="m1", rating="up", created_at=now))
    finally:
        await db.dispose()


async def _snapshot(settings: Settings, tables: set[str] | None = None) -> dict[str, list[str]]:
    """Every row of every table (or of `tables`), as sorted canonical text."""
    import json

    from sqlalchemy import MetaData

    engine = create_async_engine(settings.resolved_database_url)
    try:
        async with engine.connect() as conn:

            def read(sync_conn: Any) -> dict[str, list[str]]:
                meta = MetaData()
                meta.reflect(sync_conn)
                out: dict[str, list[str]] = {}
                for name, table in meta.tables.items():
                    if name == "alembic_version" or (tables is not None and name not in tables):
                        continue
                    rows = sync_conn.execute(table.select()).mappings().all()
                    out[name] = sorted(
                        json.dumps(dict(row), sort_keys=True, default=str) for row in rows
                    )
                return out

            return await conn.run_sync(read)
    finally:
        await engine.dispose()


def _previous(revision: str) -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    down = script.get_revision(revision).down_revision
    assert isinstance(down, str)
    return down


async def test_rolling_the_latest_migration_back_and_forth_loses_nothing(
    settings: Settings,
) -> None:
    """upgrade -> downgrade (one release back) -> upgrade with data present: every row of
    every table the previous release knows is still there, unchanged, and the audit chain
    still verifies."""
    from ragops.auth.chain import verify
    from ragops.db import Database

    head = migrate.head_revision()
    assert head is not None
    await migrate.upgrade(settings)
    await _populate(settings)
    before = await _snapshot(settings)
    assert sum(len(rows) for rows in before.values()) >= 10

    await migrate.downgrade(settings, _previous(head))
    older = set(await _tables(settings)) - {"alembic_version"}
    await migrate.upgrade(settings)
    after = await _snapshot(settings, older)
    for table in sorted(older):
        assert after[table] == before[table], f"{table} changed in the round trip"
    db = Database(settings)
    try:
        checked = await verify(db)
        assert checked.intact and checked.rows == 4, checked.problems
    finally:
        await db.dispose()


async def test_the_previous_release_runs_on_the_newest_schema(settings: Settings) -> None:
    """Expand/contract: the models of the release before migration 0007 (the audit table
    without its chain columns) insert and read on the newest schema; their rows show as
    unchained, and the chain of the new release's rows stays intact."""
    from sqlalchemy import MetaData, Table, select

    from ragops.auth.audit import record_event
    from ragops.auth.chain import verify
    from ragops.db import Database
    from ragops.db.base import utcnow

    new_columns = {"chain_seq", "prev_hash", "row_hash"}
    previous = MetaData()
    for table in Base.metadata.sorted_tables:
        if table.name in ("audit_chain", "audit_prunes"):
            continue  # tables the previous release does not know
        Table(
            table.name,
            previous,
            *(column._copy() for column in table.columns if column.name not in new_columns),
        )
    audit = previous.tables["audit_events"]
    await migrate.upgrade(settings)
    db = Database(settings)
    try:
        await record_event(db=db, action="new.release")
        async with db.engine.begin() as conn:
            await conn.execute(
                audit.insert().values(at=utcnow(), action="old.release", outcome="success")
            )
            for table in previous.sorted_tables:  # every table reads with the old columns
                await conn.execute(select(table).limit(5))
        await record_event(db=db, action="new.release.again")
        checked = await verify(db)
        assert checked.intact and checked.rows == 2 and checked.unchained == 1, checked.problems
    finally:
        await db.dispose()


LAST_RELEASE_REVISION = "0006"
"""The newest migration of release 0.1.0, the release `ragops rollback drill` goes back to."""


async def test_rolling_back_to_the_last_release_keeps_the_audit_trail(
    settings: Settings, tmp_path: Path
) -> None:
    """Newest schema -> the last release's (0006, before the hash chain) -> newest, after a
    retention run: every row the older release knows is unchanged, the retention record
    comes back, the rows chained before the rollback keep their hashes (the chain goes on
    from the pruned anchor instead of starting again) and the chain verifies."""
    import asyncio

    from sqlalchemy import select

    from ragops.auth.audit import record_event
    from ragops.auth.chain import verify
    from ragops.auth.models import AuditEvent, AuditPrune
    from ragops.auth.retention import prune
    from ragops.db import Database
    from ragops.db.base import utcnow

    await migrate.upgrade(settings)
    await _populate(settings)  # a key and three audit events among the rest
    await asyncio.sleep(0.05)
    cut = utcnow()
    await asyncio.sleep(0.05)
    db = Database(settings)
    try:
        for i in range(2):
            await record_event(db=db, action=f"late.{i}", detail={"i": i})
    finally:
        await db.dispose()
    pruned = await prune(settings, before=cut, export=tmp_path / "audit.jsonl")
    assert pruned.rows == 4
    before = await _snapshot(settings)
    assert len(before["audit_events"]) == 2 and len(before["audit_prunes"]) == 1

    await migrate.downgrade(settings, LAST_RELEASE_REVISION)
    assert not {"audit_chain", "audit_prunes"} & await _tables(settings)
    older = set(await _tables(settings)) - {"alembic_version"}
    await migrate.upgrade(settings)

    after = await _snapshot(settings)
    for table in sorted(older - {"audit_events"}):
        assert after[table] == before[table], f"{table} changed in the round trip"
    assert after["audit_prunes"] == before["audit_prunes"]
    db = Database(settings)
    try:
        async with db.session() as session:
            rows = (await session.execute(select(AuditEvent).order_by(AuditEvent.id))).scalars()
            chained = {row.action: (row.chain_seq, row.row_hash) for row in rows}
            prunes = (await session.execute(select(AuditPrune))).scalars().all()
        old = {
            json.loads(row)["action"]: (json.loads(row)["chain_seq"], json.loads(row)["row_hash"])
            for row in before["audit_events"]
        }
        assert {action: chained[action] for action in old} == old  # same sequence, same hash
        # the rollback itself is on the trail, chained after the rows it followed
        assert set(chained) == {*old, "audit.chain.downgraded"}
        assert chained["audit.chain.downgraded"][0] == max(seq for seq, _ in old.values()) + 1
        assert [p.export_sha256 for p in prunes] == [pruned.export_sha256]
        checked = await verify(db)
        assert checked.intact and checked.rows == 3 and checked.unchained == 0, checked.problems
    finally:
        await db.dispose()


async def test_a_row_changed_while_rolled_back_is_detected(settings: Settings) -> None:
    """The older release runs without the chain: a row changed meanwhile gets a new hash when
    the upgrade chains the rows again, and `verify` notices it against the head the
    downgrade kept."""
    from ragops.auth.chain import verify
    from ragops.db import Database

    await migrate.upgrade(settings)
    await _populate(settings)
    await migrate.downgrade(settings, LAST_RELEASE_REVISION)
    engine = create_async_engine(settings.resolved_database_url)
    try:
        async with engine.begin() as conn:  # what the table's owner could do meanwhile
            if conn.dialect.name == "postgresql":
                await conn.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER USER")
            else:
                await conn.exec_driver_sql("DROP TRIGGER audit_events_no_update")
            await conn.exec_driver_sql(
                "UPDATE audit_events SET outcome = 'failure' WHERE action = 'test.1'"
            )
    finally:
        await engine.dispose()
    await migrate.upgrade(settings)
    db = Database(settings)
    try:
        checked = await verify(db)
        assert not checked.intact
        assert any("while the previous release ran" in p for p in checked.problems)
    finally:
        await db.dispose()
