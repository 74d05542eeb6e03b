"""The escalation engine's run lock: one pass at a time across processes and instances.

PostgreSQL: a session advisory lock, taken on a connection of its own (never one of the pool the
requests need). SQLite runs on one host: a non-blocking file lock beside the database excludes
other processes (and other engines in this one).
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import AsyncIterator

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from ragops.config import Settings
from ragops.db import Database

LOCK_KEY = 0x72616770  # "ragp": the advisory lock of the escalation engine
LOCK_FILE = "escalation.lock"


class RunLock:
    """`exclusive()` yields True when this process holds the lock for the pass, else False."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self._engine: AsyncEngine | None = None

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[bool]:
        """Try the lock without waiting; released when the block ends."""
        if self.db.backend != "postgresql":
            path = self.settings.data_dir / LOCK_FILE
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    yield False
                    return
                try:
                    yield True
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
            return
        if self._engine is None:
            self._engine = create_async_engine(self.db.url, poolclass=NullPool)
        async with self._engine.connect() as conn:
            got = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}))
            await conn.commit()
            try:
                yield got
            finally:
                if got:
                    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                    await conn.commit()

    async def aclose(self) -> None:
        """Close the lock's own connection engine (PostgreSQL)."""
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
