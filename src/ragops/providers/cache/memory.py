"""In-process cache: the embedded default. Bounded LRU with per-entry expiry; not shared
between processes, so a multi-instance deployment sets `RAGOPS_REDIS_URL` instead."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict


class MemoryCache:
    """A bounded, expiring LRU map of bytes."""

    backend = "memory"

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._max_entries = max_entries
        self._lock = asyncio.Lock()

    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""
        async with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, value = entry
            if expires < time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return value

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        """Store a value, evicting the least recently used entry when full."""
        async with self._lock:
            self._entries[key] = (time.monotonic() + ttl_seconds, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    async def delete(self, key: str) -> None:
        """Forget one key."""
        async with self._lock:
            self._entries.pop(key, None)

    async def delete_prefix(self, prefix: str) -> int:
        """Forget every key that starts with `prefix`."""
        async with self._lock:
            doomed = [key for key in self._entries if key.startswith(prefix)]
            for key in doomed:
                del self._entries[key]
            return len(doomed)

    async def ping(self) -> None:
        """Always answers."""

    async def aclose(self) -> None:
        """Drop every entry."""
        self._entries.clear()
