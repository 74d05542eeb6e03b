"""A cache that is bypassed while its backend (Redis) is unreachable.

The RedisDown runbook's promise: answers get slower (nothing is served from the cache), never
fail. A failed read is a miss, a failed write is skipped. After a failure the backend is left
alone for `retry_seconds` (so requests do not each wait on a dead server), then tried again;
the switch each way is logged once and shown by `ragops_fallback_active{component="cache"}`.
A failed delete is logged: an entry it should have removed may outlive the outage until its
time to live ends.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from ragops.observability.degradation import fallback_engaged, fallback_recovered
from ragops.providers.cache.base import Cache

T = TypeVar("T")
COMPONENT = "cache"
log = structlog.get_logger(__name__)


class BypassingCache:
    """Wraps a shared cache; every operation succeeds, misses while the backend is down."""

    def __init__(self, inner: Cache, *, retry_seconds: float = 2.0) -> None:
        self.inner = inner
        self.retry_seconds = retry_seconds
        self._retry_at = 0.0
        self.bypass_reason: str | None = None

    @property
    def backend(self) -> str:
        return self.inner.backend

    @property
    def degraded(self) -> bool:
        """Whether the cache is bypassed now."""
        return self.bypass_reason is not None

    async def _call(self, operation: Callable[[], Awaitable[T]], fallback: T) -> T:
        if time.monotonic() < self._retry_at:
            return fallback
        try:
            result = await operation()
        except Exception as exc:
            self._retry_at = time.monotonic() + self.retry_seconds
            self.bypass_reason = f"{self.inner.backend} unavailable ({type(exc).__name__})"
            fallback_engaged(COMPONENT, self.bypass_reason)
            return fallback
        if self.bypass_reason is not None:
            self.bypass_reason = None
            fallback_recovered(COMPONENT)
        return result

    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent, expired or the backend is down."""
        return await self._call(lambda: self.inner.get(key), None)

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        """Store a value; skipped while the backend is down."""
        await self._call(lambda: self.inner.set(key, value, ttl_seconds), None)

    async def delete(self, key: str) -> None:
        """Forget one key; logged when the backend is down."""

        async def deleted() -> bool:
            await self.inner.delete(key)
            return True

        if not await self._call(deleted, False):
            log.warning("cache_delete_skipped", reason=self.bypass_reason)

    async def delete_prefix(self, prefix: str) -> int:
        """Forget every key starting with `prefix`; 0 (logged) while the backend is down."""
        removed = await self._call(lambda: self.inner.delete_prefix(prefix), -1)
        if removed < 0:
            log.warning("cache_delete_skipped", reason=self.bypass_reason)
            return 0
        return removed

    async def ping(self) -> None:
        """Raise if the backend cannot answer (readiness reports it)."""
        await self.inner.ping()

    async def aclose(self) -> None:
        """Close the backend's connections."""
        await self.inner.aclose()
