"""Keep the `ragops_db_pool_*` metrics current from SQLAlchemy pool events.

`instrument_pool(engine)` listens to connect/checkout/checkin/detach on the engine (so the
listeners follow the pool across `engine.dispose()`), and wraps the engine's
`raw_connection` to time each checkout, including the wait for a free connection: waiters are
the checkouts in progress. One engine per process is expected: the gauges have no labels.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import Pool, QueuePool

_MARK = "_ragops_pool_instrumented"


def pool_limits(pool: Pool) -> tuple[float, float, float]:
    """(persistent size, most connections, overflow now) of a pool; unbounded max is +Inf."""
    if isinstance(pool, QueuePool):
        size = float(pool.size())
        max_overflow = pool._max_overflow  # no public accessor
        most = math.inf if max_overflow < 0 else size + max_overflow
        return size, most, float(max(pool.overflow(), 0))
    return 0.0, math.inf, 0.0


class _PoolWatcher:
    """Event handlers of one engine, writing the pool gauges."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.checked_out = 0
        self.lock = threading.Lock()

    def refresh(self, *_args: Any) -> None:
        from ragops.observability import metrics

        size, most, overflow = pool_limits(self.engine.pool)
        metrics.DB_POOL_SIZE.set(size)
        metrics.DB_POOL_MAX.set(most)
        metrics.DB_POOL_OVERFLOW.set(overflow)

    def _move(self, delta: int) -> None:
        from ragops.observability import metrics

        with self.lock:
            self.checked_out = max(self.checked_out + delta, 0)
            metrics.DB_POOL_CHECKED_OUT.set(self.checked_out)

    def on_checkout(self, *_args: Any) -> None:
        self._move(+1)
        self.refresh()

    def on_checkin(self, *_args: Any) -> None:
        self._move(-1)

    def timed_raw_connection(self, original: Any) -> Any:
        from ragops.observability import metrics

        def raw_connection() -> Any:
            metrics.DB_POOL_WAITERS.inc()
            started = time.perf_counter()
            try:
                return original()
            finally:
                metrics.DB_POOL_WAITERS.dec()
                metrics.DB_POOL_WAIT.observe(time.perf_counter() - started)

        return raw_connection


def instrument_pool(engine: AsyncEngine | Engine) -> None:
    """Hook the pool metrics onto `engine` (async or sync); calling it twice is harmless."""
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    if getattr(sync_engine, _MARK, False):
        return
    watcher = _PoolWatcher(sync_engine)
    event.listen(sync_engine, "connect", watcher.refresh)
    event.listen(sync_engine, "checkout", watcher.on_checkout)
    event.listen(sync_engine, "checkin", watcher.on_checkin)
    event.listen(sync_engine, "detach", watcher.on_checkin)
    # Instance attribute: Connection() calls engine.raw_connection() for every checkout.
    setattr(  # noqa: B010 - assigning a method on an instance is not a plain attribute
        sync_engine, "raw_connection", watcher.timed_raw_connection(sync_engine.raw_connection)
    )
    setattr(sync_engine, _MARK, True)
    watcher.refresh()
