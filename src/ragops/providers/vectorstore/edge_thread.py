"""The embedded store's one engine thread: every Qdrant Edge call runs there, in order, off the
event loop (the engine holds the GIL while it works, so a second thread would gain nothing).

`run_held` also lets a caller hold the thread while it does something else on the event loop:
backups flush and copy the shard while the database's snapshot is taken, with no engine call,
index build included, running in between.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar, cast

T = TypeVar("T")


class EngineThread:
    """One worker thread that runs the engine's calls in the order they were made."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragops-edge")

    async def call(self, func: Callable[[], T]) -> T:
        """Run `func` in the thread once the calls before it are done; its result."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, func)

    async def run_held(self, job: Callable[[], T], while_held: Callable[[], Awaitable[None]]) -> T:
        """Hold the thread (calls made meanwhile wait behind it), await `while_held` on the event
        loop, then run `job` in the thread; `job` does not run if `while_held` raises."""
        loop = asyncio.get_running_loop()
        held: asyncio.Future[None] = loop.create_future()
        go = threading.Event()
        proceed = False

        def signal() -> None:
            if not held.done():
                held.set_result(None)

        def hold_then_run() -> T | None:
            loop.call_soon_threadsafe(signal)
            go.wait()
            return job() if proceed else None

        done = loop.run_in_executor(self._pool, hold_then_run)
        try:
            await held
            await while_held()
            proceed = True
        finally:
            go.set()
        return cast(T, await done)

    def shutdown(self) -> None:
        """Wait for the calls in progress, then stop the thread."""
        self._pool.shutdown(wait=True)
