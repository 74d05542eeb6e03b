"""Short read-only statements run on the calling thread (the event loop) on SQLite.

aiosqlite runs every statement in the connection's own thread: a statement is several
hand-offs to that thread and back through the loop, 70-175 µs of CPU for a one-row lookup that
costs a few µs in the `sqlite3` module itself. `LoopReads` keeps one synchronous connection per
thread (the stdlib `sqlite3` driver through a sync SQLAlchemy engine on the same file) and runs
a statement on it directly: no thread, no hop. It is meant for the short indexed reads a
request makes on every call (an API key by its hash, a corpus version, a collection by name),
which block the loop for the same few µs the hop would have cost many times over.

- The connection is read-only (`PRAGMA query_only`) and in autocommit mode: every statement
  is its own read transaction, ended when its rows are fetched, so each read sees everything
  committed before it, by the async engine or another process (same file, WAL: a reader never
  waits for a writer).
- Its busy timeout is short (`BUSY_TIMEOUT_SECONDS`); a statement the driver fails (busy, or
  anything else the database refuses) raises `ReadFailed`, the thread's connection is closed,
  and the caller (`Database.read_now`) runs the statement again on the async engine, which
  waits as long as it waits for anything and raises the real error.
- `close()` closes every thread's connection; the next read opens a new one on the file now
  at the path (after a pool reset, or at shutdown).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.base import Executable

BUSY_TIMEOUT_SECONDS = 0.05
"""How long a read waits on a locked database before it is handed to the async engine."""


class ReadFailed(Exception):
    """The statement could not run on the loop's connection; run it the ordinary way."""


def loop_reads_url(url: URL) -> URL | None:
    """The synchronous (pysqlite) URL of an SQLite database in a file; None for other
    databases and for in-memory SQLite, which one connection cannot share with another."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or "memory" in str(url.query.get("mode", "")):
        return None
    return url.set(drivername="sqlite")


def _read_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


class LoopReads:
    """One read-only autocommit connection per thread on an SQLite file (module docstring)."""

    def __init__(self, url: URL, *, echo: bool = False) -> None:
        self.engine = create_engine(
            url,
            echo=echo,
            poolclass=NullPool,  # connections are held here, one per thread
            # closed at shutdown from whichever thread disposes; used only by the thread
            # that opened it
            connect_args={"timeout": BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        event.listen(self.engine, "connect", _read_only)
        self._local = threading.local()
        self._open: list[Connection] = []
        self._lock = threading.Lock()
        self.reads = 0
        """Statements run here (a figure for tests)."""

    def _connection(self) -> Connection:
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            with self._lock:
                self._open.append(connection)
            self._local.connection = connection
        return connection

    def read(self, statement: Executable) -> Sequence[Row[Any]]:
        """Every row of `statement`; ReadFailed when the database refused it."""
        try:
            rows = self._connection().execute(statement).all()
        except DBAPIError as exc:
            self._drop()  # the next read opens a fresh connection
            raise ReadFailed(str(exc)) from exc
        self.reads += 1
        return rows

    def _drop(self) -> None:
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            return
        self._local.connection = None
        with self._lock:
            if connection in self._open:
                self._open.remove(connection)
        connection.close()

    def close(self) -> None:
        """Close every thread's connection; later reads open new ones."""
        with self._lock:
            self._local = threading.local()
            opened, self._open = self._open, []
        for connection in opened:
            connection.close()
        self.engine.dispose()
