"""Draining: from the moment shutdown begins, `/readyz` answers 503 so load balancers stop
sending new requests while the ones in flight finish.

Shutdown begins at SIGTERM (the hook runs before uvicorn's own handler, which it then calls,
after `RAGOPS_DRAIN_SECONDS` when set, so the instance keeps serving while it is taken out of
rotation) or, whatever stopped the server, when the application's lifespan shuts down.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from types import FrameType
from typing import Any

logger = logging.getLogger(__name__)


class Lifecycle:
    """Whether this instance is draining, and the SIGTERM hook that starts it."""

    def __init__(self) -> None:
        self.draining = False
        self.drain_started: float | None = None
        self._previous: Any = None
        self._handler: Any = None

    def begin_draining(self, reason: str) -> None:
        """Report not-ready from now on (idempotent)."""
        if not self.draining:
            self.draining = True
            self.drain_started = time.time()
            logger.info("draining: readiness now reports not ready (%s)", reason)

    def hook_sigterm(self, loop: asyncio.AbstractEventLoop, drain_seconds: float) -> bool:
        """Start draining on SIGTERM, then pass the signal on to the server's own handler.

        Only possible in the main thread and when the server handles SIGTERM itself (uvicorn
        does); returns whether the hook was installed.
        """
        if threading.current_thread() is not threading.main_thread():
            return False
        previous = signal.getsignal(signal.SIGTERM)
        if not callable(previous):
            return False

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            first = not self.draining
            self.begin_draining("SIGTERM")
            if first and drain_seconds > 0:
                logger.info("stopping in %g s", drain_seconds)
                loop.call_soon_threadsafe(loop.call_later, drain_seconds, previous, signum, frame)
            else:
                previous(signum, frame)

        signal.signal(signal.SIGTERM, on_sigterm)
        self._previous, self._handler = previous, on_sigterm
        return True

    def unhook_sigterm(self) -> None:
        """Put the server's SIGTERM handler back, if the hook is still the one installed."""
        if self._handler is None or threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is self._handler:
            signal.signal(signal.SIGTERM, self._previous)
        self._previous = self._handler = None
