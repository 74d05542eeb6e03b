"""Routine database maintenance: refresh planner statistics and reclaim dead rows.

PostgreSQL: `VACUUM (ANALYZE)` (no exclusive lock; the service keeps running).
SQLite: `ANALYZE`, then `VACUUM`, which rewrites the file and makes writers wait for it (up
to the busy timeout, `RAGOPS_DB_POOL_TIMEOUT`): run it at a quiet hour.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import create_async_engine

from ragops.config import Settings
from ragops.db.engine import engine_options


def statements(backend: str) -> list[str]:
    """The maintenance statements of a backend ("postgresql" or "sqlite")."""
    if backend == "postgresql":
        return ["VACUUM (ANALYZE)"]
    return ["ANALYZE", "VACUUM"]


async def maintain(settings: Settings) -> list[str]:
    """Run the statements outside any transaction (VACUUM refuses one); returns them."""
    engine = create_async_engine(
        settings.resolved_database_url,
        **engine_options(settings),
        isolation_level="AUTOCOMMIT",
    )
    try:
        done = []
        async with engine.connect() as conn:
            for statement in statements(engine.dialect.name):
                await conn.exec_driver_sql(statement)
                done.append(statement)
        return done
    finally:
        await engine.dispose()
