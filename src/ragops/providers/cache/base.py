"""The `Cache` interface: bytes by key with a time to live."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Cache(Protocol):
    """A key-value cache shared by every instance (Redis) or local to one (memory)."""

    @property
    def backend(self) -> str:
        """ "memory" or "redis"."""
        ...

    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""
        ...

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        """Store a value for `ttl_seconds`."""
        ...

    async def delete(self, key: str) -> None:
        """Forget one key."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Forget every key starting with `prefix`; returns how many."""
        ...

    async def ping(self) -> None:
        """Raise if the backend cannot answer."""
        ...

    async def aclose(self) -> None:
        """Close connections."""
        ...
