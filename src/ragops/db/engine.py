"""The async engine and session factory, with the spec's pool settings for PostgreSQL.

PostgreSQL gets a queue pool of `db_pool_min` persistent connections that may grow to
`db_pool_max`, with `db_pool_timeout` seconds of checkout wait (spec Task 4.8: 5 / 20 / 30 s).
`fill_pool` opens the `db_pool_min` baseline at once (the server calls it when it starts and
after a pool reset); the pool keeps them open between requests.
Every PostgreSQL connection carries `application_name` = `RAGOPS_DB_APPLICATION_NAME`
("ragops"; migrations "ragops-migrate"), which `ragops db status` groups by and `ragops db
kill` checks. `reset_pool` replaces the pool without touching connections in use: the idle
ones close at once, each one in use closes when it is returned (`_close_on_return`).
SQLite (the embedded default) gets WAL mode and a busy timeout so concurrent readers and one
writer do not fail; a SQLite file has SQLAlchemy's default pool, written out here
(`SQLITE_POOL_SIZE` + `SQLITE_POOL_OVERFLOW`), which the `RAGOPS_DB_POOL_*` settings do not
change.

`read_now` runs a short read-only statement (a lookup a request makes every time) and returns
its rows: on an SQLite file, on the calling thread through `loop_reads.LoopReads` (no hop to
aiosqlite's thread; `RAGOPS_DB_SQLITE_LOOP_READS`), elsewhere on a pooled async connection.
Writes always go through the async engine.

`ping_unpooled` reaches PostgreSQL on a connection of its own, outside the pool: readiness
uses it when every pooled connection is busy, so a full pool is not taken for a database that
is down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Row, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry, NullPool
from sqlalchemy.sql.base import Executable
from sqlalchemy.util import greenlet_spawn

from ragops.config import Settings
from ragops.db.loop_reads import LoopReads, ReadFailed, loop_reads_url
from ragops.observability.db_pool import instrument_pool

logger = logging.getLogger(__name__)


def application_name(settings: Settings, role: str | None = None) -> str:
    """The PostgreSQL application_name of ragops' connections (`role`: "migrate", ...)."""
    name = settings.db_application_name
    return f"{name}-{role}" if role else name


def connect_args(settings: Settings, url: str, role: str | None = None) -> dict[str, Any]:
    """`connect_args` naming the connection on PostgreSQL (nothing elsewhere)."""
    if make_url(url).get_backend_name() != "postgresql":
        return {}
    return {"server_settings": {"application_name": application_name(settings, role)}}


SQLITE_POOL_SIZE = 5
SQLITE_POOL_OVERFLOW = 10
"""The pool of a SQLite file: SQLAlchemy's defaults, fixed (one file, one writer at a time)."""


def sqlite_file(url: str) -> bool:
    """Whether `url` names a SQLite file (not an in-memory database, which has no pool)."""
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")


def engine_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of `create_async_engine` for the configured database."""
    url = make_url(settings.resolved_database_url)
    options: dict[str, Any] = {"echo": settings.db_echo}
    if url.get_backend_name() == "sqlite":
        options["connect_args"] = {"timeout": settings.db_pool_timeout}
        if sqlite_file(settings.resolved_database_url):
            options.update(pool_size=SQLITE_POOL_SIZE, max_overflow=SQLITE_POOL_OVERFLOW)
    else:
        options.update(
            connect_args=connect_args(settings, settings.resolved_database_url),
            pool_size=settings.db_pool_min,
            max_overflow=max(settings.db_pool_max - settings.db_pool_min, 0),
            pool_timeout=settings.db_pool_timeout,
            pool_recycle=settings.db_pool_recycle,
            pool_pre_ping=True,
        )
    return options


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _close_on_return(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    """Checkin listener of a replaced pool: close the connection as it comes back, instead of
    parking it in a pool nobody checks out from again (where it stayed open until that pool
    was garbage collected). A close that fails leaves the connection closed anyway."""
    if dbapi_connection is None:
        return
    try:
        record.close()
    except Exception as exc:  # the caller is returning a connection: never fail it for this
        logger.debug("closing a connection of a replaced pool failed: %s", exc)


class Database:
    """One engine and its session factory; created at start-up, disposed at shutdown."""

    def __init__(self, settings: Settings) -> None:
        url = make_url(settings.resolved_database_url)
        if url.get_backend_name() == "sqlite" and url.database:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.settings = settings
        self._unpooled: AsyncEngine | None = None
        self.engine: AsyncEngine = create_async_engine(url, **engine_options(settings))
        if url.get_backend_name() == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        # Listeners are added here, before any connection: adding one while another task
        # connects mutates the listener list mid-iteration (SQLAlchemy is not safe for that).
        instrument_pool(self.engine)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        sync_url = loop_reads_url(url) if settings.db_sqlite_loop_reads else None
        self.loop_reads: LoopReads | None = (
            LoopReads(sync_url, echo=settings.db_echo) if sync_url is not None else None
        )

    @property
    def backend(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self.url.get_backend_name()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session that rolls back on error and always closes."""
        async with self.sessions() as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise

    async def read_now(self, statement: Executable) -> Sequence[Row[Any]]:
        """Every row of a short read-only `statement`, read now (it sees every commit made
        before the call). On an SQLite file it runs on the calling thread, without a hop;
        if that connection fails it, or elsewhere, on a pooled async connection."""
        if self.loop_reads is not None:
            try:
                return self.loop_reads.read(statement)
            except ReadFailed:
                pass  # the async engine waits for a lock as long as it waits for any
        async with self.engine.connect() as connection:
            return (await connection.execute(statement)).all()

    async def ping_unpooled(self) -> None:
        """`SELECT 1` on a new connection outside the pool, closed at once (PostgreSQL; on
        SQLite, which has no pool to fill, through the engine). Raises what connecting raises."""
        if self.backend != "postgresql":
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            return
        if self._unpooled is None:
            url = self.settings.resolved_database_url
            self._unpooled = create_async_engine(
                url,
                poolclass=NullPool,
                connect_args=connect_args(self.settings, url, "readiness"),
            )
        async with self._unpooled.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def fill_pool(self) -> int:
        """PostgreSQL: open the pool's baseline (`db_pool_min` connections) now, so it does not
        wait for a burst of requests; returns how many the pool then keeps. Best effort: a
        connection that fails is logged and left to be opened on demand."""
        wanted = self.settings.db_pool_min
        if self.backend != "postgresql" or wanted <= 0:
            return 0
        opened = await asyncio.gather(
            *(self.engine.connect() for _ in range(wanted)), return_exceptions=True
        )
        failures = [item for item in opened if isinstance(item, BaseException)]
        for item in opened:
            if not isinstance(item, BaseException):
                await item.close()  # back to the pool, which keeps it
        if failures:
            logger.warning(
                "opened %d of the pool's %d baseline connections: %s",
                wanted - len(failures),
                wanted,
                failures[0],
            )
        return wanted - len(failures)

    async def reset_pool(self) -> None:
        """Replace the pool: idle connections close now, connections in use finish their
        work and close as each is returned; new checkouts open fresh connections."""
        if self.loop_reads is not None:
            self.loop_reads.close()
        old = self.engine.sync_engine.pool
        await self.engine.dispose(close=False)  # the engine takes a new pool; `old` is as it was
        # Before anything else runs (no await in between): from now on a connection returned
        # to the old pool closes on its return, so none is left for the collector to close.
        event.listen(old, "checkin", _close_on_return)
        await greenlet_spawn(old.dispose)  # the idle ones, and any returned meanwhile

    async def dispose(self) -> None:
        """Close every pooled connection."""
        if self.loop_reads is not None:
            self.loop_reads.close()
        if self._unpooled is not None:
            await self._unpooled.dispose()
        await self.engine.dispose()
