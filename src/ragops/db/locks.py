"""Cluster-wide locks in PostgreSQL (advisory locks), so that instances starting together do a
one-time job (migrate, make the bootstrap key) once: the others wait, then find it done.

On SQLite (the embedded, single-instance default) the locks are no-ops: SQLite's own write
lock already serialises writers of one file.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

MIGRATION_LOCK = "ragops:migrate"
BOOTSTRAP_LOCK = "ragops:bootstrap-key"
RECONCILE_LOCK = "ragops:store-reconcile"


def lock_id(name: str) -> int:
    """A stable signed 64-bit advisory lock id for `name`."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def lock_transaction(connection: AsyncConnection, name: str) -> None:
    """Take the advisory lock `name` until the connection's transaction ends (PostgreSQL)."""
    if connection.dialect.name == "postgresql":
        await connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id(name)})


@asynccontextmanager
async def advisory_lock(engine: AsyncEngine, name: str) -> AsyncIterator[None]:
    """Hold the advisory lock `name` (on a connection of its own) for the block."""
    if engine.dialect.name != "postgresql":
        yield
        return
    params: dict[str, Any] = {"id": lock_id(name)}
    async with engine.connect() as connection:
        await connection.execute(text("SELECT pg_advisory_lock(:id)"), params)
        await connection.commit()
        try:
            yield
        finally:
            await connection.execute(text("SELECT pg_advisory_unlock(:id)"), params)
            await connection.commit()


@asynccontextmanager
async def try_advisory_lock(engine: AsyncEngine, name: str) -> AsyncIterator[bool]:
    """Try the advisory lock `name` without waiting: yields True while held, False when
    another session holds it (PostgreSQL; always True elsewhere)."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    params: dict[str, Any] = {"id": lock_id(name)}
    async with engine.connect() as connection:
        taken = (
            await connection.execute(text("SELECT pg_try_advisory_lock(:id)"), params)
        ).scalar_one()
        await connection.commit()
        try:
            yield bool(taken)
        finally:
            if taken:
                await connection.execute(text("SELECT pg_advisory_unlock(:id)"), params)
                await connection.commit()
