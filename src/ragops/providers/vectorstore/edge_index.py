"""When the embedded store (`edge.py`) builds its vector index: the points written since the
last build are counted and, once `RAGOPS_EDGE_INDEX_THRESHOLD` of them were (0: never), one
build starts in the background, never two at once; closing the store waits for it. The build
itself (`EdgeVectorStore.optimize`) runs in the store's thread and pauses the process while it
works (see `edge.py`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable


class IndexBuilds:
    """The background index builds of one store: `wrote` after each write, `wait` on close."""

    def __init__(
        self,
        threshold: int,
        build: Callable[[], Awaitable[object]],
        *,
        name: Callable[[], str],
        logger: logging.Logger,
    ) -> None:
        self._threshold = threshold
        self._build = build
        self._name = name
        self._logger = logger
        self.written = 0
        """Points written since the last build (a build sets it back to 0)."""
        self._running: asyncio.Future[None] | None = None

    def wrote(self, count: int) -> None:
        """Count `count` points written; start a build in the background once enough were."""
        self.written += count
        if self._threshold <= 0 or self.written < self._threshold or self._running is not None:
            return
        self._running = asyncio.ensure_future(self._in_background())

    async def _in_background(self) -> None:
        try:
            await self._build()
        except Exception:
            self._logger.warning("background index build of %s failed", self._name(), exc_info=True)
        finally:
            self._running = None

    async def wait(self) -> None:
        """Wait for the build under way, if any (shielded: cancelling the wait leaves it be)."""
        if self._running is not None:
            await asyncio.shield(self._running)
