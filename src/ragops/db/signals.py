"""Pool figures and pool resets across every running instance, over PostgreSQL NOTIFY.

Each instance keeps one extra connection (outside its pool) that LISTENs on three channels:
`ragops_pool_reset` (dispose and re-create the pool now), `ragops_pool_ask` (publish this
instance's pool figures) and `ragops_pool_reply` (figures published by the instances). The
admin API asks, collects the replies for a short while, and answers with every instance's
figures; a reset is one NOTIFY that every instance, the asking one included, obeys.

Resetting replaces the pool (`Database.reset_pool`): idle connections close, connections in
use finish their requests and close when returned, so nothing in flight is dropped; then the
new pool opens its baseline (`Database.fill_pool`). On SQLite
(one instance) the API resets and reports this instance only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
from typing import Any

import asyncpg

from ragops.db.engine import Database

logger = logging.getLogger(__name__)

RESET = "ragops_pool_reset"
ASK = "ragops_pool_ask"
REPLY = "ragops_pool_reply"
INSTANCE_ID = f"{socket.gethostname()}-{os.getpid()}"


def pool_figures(db: Database) -> dict[str, Any]:
    """This process's pool: persistent size, connections in use and idle, overflow."""
    pool: Any = db.engine.pool
    figures: dict[str, Any] = {"pool": type(pool).__name__}
    for name, attr in (
        ("size", "size"),
        ("checked_out", "checkedout"),
        ("idle", "checkedin"),
        ("overflow", "overflow"),
    ):
        method = getattr(pool, attr, None)
        figures[name] = int(method()) if callable(method) else None
    if figures["overflow"] is not None:
        # SQLAlchemy's counter starts at -size; what is shown (as ragops_db_pool_overflow
        # does) is the connections open beyond the persistent size.
        figures["overflow"] = max(figures["overflow"], 0)
    return figures


class PoolSignals:
    """This instance's listener; `ask` and `reset` reach every instance."""

    def __init__(self, db: Database, instance: str | None = None) -> None:
        self.db = db
        self.instance = instance or f"{INSTANCE_ID}-{uuid.uuid4().hex[:6]}"
        self.resets = 0
        self._conn: Any = None
        self._waiting: dict[str, list[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def listening(self) -> bool:
        """True when connected to PostgreSQL's NOTIFY."""
        return self._conn is not None

    def figures(self) -> dict[str, Any]:
        """This instance's figures."""
        return {"instance": self.instance, "resets": self.resets, **pool_figures(self.db)}

    async def start(self) -> None:
        """LISTEN on the channels (PostgreSQL only; elsewhere a no-op)."""
        if self.db.backend != "postgresql":
            return
        dsn = self.db.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._conn = await asyncpg.connect(
            dsn, server_settings={"application_name": "ragops-signals"}
        )
        await self._conn.add_listener(RESET, self._on_reset)
        await self._conn.add_listener(ASK, self._on_ask)
        await self._conn.add_listener(REPLY, self._on_reply)

    async def aclose(self) -> None:
        """Stop listening."""
        for task in list(self._tasks):
            task.cancel()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await conn.close()

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def reset_here(self) -> None:
        """Replace this instance's pool."""
        await self.db.reset_pool()
        self.resets += 1
        await self.db.fill_pool()
        logger.warning("database pool reset (instance %s)", self.instance)

    def _on_reset(self, *_args: Any) -> None:
        self._spawn(self.reset_here())

    def _on_ask(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        reply = json.dumps({"request": payload, **self.figures()})
        self._spawn(self._notify(REPLY, reply))

    def _on_reply(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        with contextlib.suppress(ValueError, KeyError):
            data = json.loads(payload)
            waiting = self._waiting.get(data.pop("request"))
            if waiting is not None:
                waiting.append(data)

    async def _notify(self, channel: str, payload: str) -> None:
        if self._conn is not None:
            await self._conn.execute("SELECT pg_notify($1, $2)", channel, payload)

    async def ask(self, wait_seconds: float = 0.5) -> list[dict[str, Any]]:
        """Every listening instance's figures (this one's alone when not on PostgreSQL)."""
        if self._conn is None:
            return [self.figures()]
        request = uuid.uuid4().hex
        replies: list[dict[str, Any]] = []
        self._waiting[request] = replies
        try:
            await self._notify(ASK, request)
            await asyncio.sleep(wait_seconds)
        finally:
            self._waiting.pop(request, None)
        return sorted(replies, key=lambda item: str(item["instance"]))

    async def reset_all(self) -> str:
        """Reset every instance's pool; returns how the signal went ("notify" or "local")."""
        if self._conn is None:
            await self.reset_here()
            return "local"
        await self._notify(RESET, self.instance)
        return "notify"
