"""The same Alembic migrations run up and down on SQLite and on PostgreSQL, and the schema
they build is exactly the one the models declare."""

from __future__ import annotations

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
