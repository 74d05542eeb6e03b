"""PostgreSQL with the role split: migrations run as the owner role
(`RAGOPS_MIGRATION_DATABASE_URL`), the service as a role that may only read and append the
audit trail. That role cannot delete audit rows, set the append-only triggers aside or prune;
the owner prunes (export, then remove) and the chain still verifies."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from ragops.auth.audit import record_event
from ragops.auth.chain import verify
from ragops.auth.retention import NotOwner, prune
from ragops.db import Database, migrate
from ragops.db.base import utcnow
from tests.conftest import PG_HOST, PG_PORT, PG_USER, make_settings


@pytest.fixture
async def runtime_role(pg_url: str) -> AsyncIterator[str]:
    """A login role for the service (trust authentication: no password)."""
    role = f"ragops_rt_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN')
        yield role
    finally:
        database = make_url(pg_url).database
        inner = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=database)
        try:
            await inner.execute(f'DROP OWNED BY "{role}"')
        finally:
            await inner.close()
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()


async def test_service_role_may_only_read_and_append_the_audit_trail(
    pg_url: str, runtime_role: str, tmp_path: Path
) -> None:
    service_url = make_url(pg_url).set(username=runtime_role).render_as_string(False)
    settings = make_settings(
        tmp_path / "var", database_url=service_url, migration_database_url=pg_url
    )
    await migrate.upgrade(settings)
    db = Database(settings)  # connects as the service's role
    try:
        for i in range(4):
            await record_event(db=db, action=f"test.{i}")
        checked = await verify(db)
        assert checked.intact and checked.rows == 4
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("SELECT current_user"))).scalar() == runtime_role
        for statement, refusal in [
            ("DELETE FROM audit_events", "permission denied"),
            ("UPDATE audit_events SET outcome = 'denied'", "permission denied"),
            ("TRUNCATE audit_events", "permission denied"),
            ("ALTER TABLE audit_events DISABLE TRIGGER USER", "must be owner"),
            ("DELETE FROM audit_prunes", "permission denied"),
        ]:
            with pytest.raises(DBAPIError, match=refusal):
                async with db.engine.begin() as conn:
                    await conn.execute(text(statement))
        # the service still does its other work: documents, keys, sessions
        async with db.engine.begin() as conn:
            await conn.execute(text("DELETE FROM chat_sessions"))

        # retention as the service's role is refused and removes nothing
        as_service = settings.model_copy(update={"migration_database_url": None})
        with pytest.raises(NotOwner):
            await prune(as_service, before=utcnow(), export=tmp_path / "refused.jsonl")
        assert (await verify(db)).rows == 4

        # the owner prunes: export first, then remove; the rest still verifies
        await record_event(db=db, action="test.after")
        result = await prune(settings, before=utcnow(), export=tmp_path / "pruned.jsonl")
        assert result.rows == 5 and len((tmp_path / "pruned.jsonl").read_text().splitlines()) == 5
        await record_event(db=db, action="test.new")
        after = await verify(db)
        assert after.intact and (after.rows, after.first_seq) == (1, 6)
    finally:
        await db.dispose()


async def test_rolling_back_below_the_chain_keeps_the_service_roles_privileges(
    pg_url: str, runtime_role: str, tmp_path: Path
) -> None:
    """A downgrade to the last release's schema (0006, before `audit_prunes` existed) runs as
    the owner and grants the service's role again what it needs at that revision: it still
    appends to the audit trail and may not delete from it; the upgrade back works too."""
    service_url = make_url(pg_url).set(username=runtime_role).render_as_string(False)
    settings = make_settings(
        tmp_path / "var", database_url=service_url, migration_database_url=pg_url
    )
    await migrate.upgrade(settings)
    await migrate.downgrade(settings, "0006")
    assert await migrate.current_revision(settings) == "0006"
    db = Database(settings)  # the service's role, on the older schema
    try:
        async with db.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO audit_events (at, action, outcome) "
                    "VALUES (now(), 'older.release', 'success')"
                )
            )
        with pytest.raises(DBAPIError, match="permission denied"):
            async with db.engine.begin() as conn:
                await conn.execute(text("DELETE FROM audit_events"))
    finally:
        await db.dispose()
    await migrate.upgrade(settings)
    db = Database(settings)
    try:
        await record_event(db=db, action="newer.release")
        checked = await verify(db)
        assert checked.intact and checked.rows == 3, checked.problems
    finally:
        await db.dispose()
