"""The service's scheduled store reconcile: every `store_reconcile_interval_seconds`, one
instance at a time.

On PostgreSQL the run holds the advisory lock `ragops:store-reconcile` (tried, never waited
for): when another instance is reconciling, this one skips its turn. The first run comes one
interval after start, never during start-up. A failed run is logged and tried again at the
next interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from ragops.consistency import service
from ragops.consistency.models import StoreReport
from ragops.db.locks import RECONCILE_LOCK, try_advisory_lock
from ragops.runtime import Runtime

logger = logging.getLogger(__name__)


class ReconcileScheduler:
    """Runs `service.reconcile` over every tenant at an interval."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._task: asyncio.Task[None] | None = None
        self.last: StoreReport | None = None

    async def run_once(self) -> StoreReport | None:
        """One reconcile under the lock; None when another instance holds it."""
        runtime = self.runtime
        async with try_advisory_lock(runtime.db.engine, RECONCILE_LOCK) as held:
            if not held:
                logger.info("store reconcile skipped: another instance is running it")
                return None
            self.last = await service.reconcile(
                runtime.db,
                runtime.store,
                runtime.retriever,
                tenant_id=None,
                grace_seconds=runtime.settings.store_reconcile_grace_seconds,
            )
            return self.last

    def start(self, interval: float) -> None:
        """Reconcile every `interval` seconds until `stop`."""
        self._task = asyncio.create_task(self._loop(interval), name="store-reconcile")

    async def _loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.run_once()
            except Exception:
                logger.warning("scheduled store reconcile failed", exc_info=True)

    async def stop(self) -> None:
        """Cancel the timer (a run in progress stops where it is; it is safe to repeat)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@contextlib.asynccontextmanager
async def reconcile_lifespan(app: Any) -> AsyncIterator[None]:
    """Start the scheduled reconcile with the application (off when the interval is 0)."""
    runtime = getattr(app.state, "runtime", None)
    interval = runtime.settings.store_reconcile_interval_seconds if runtime else 0
    if runtime is None or interval <= 0:
        yield
        return
    scheduler = ReconcileScheduler(runtime)
    app.state.store_reconcile = scheduler
    scheduler.start(interval)
    try:
        yield
    finally:
        await scheduler.stop()
