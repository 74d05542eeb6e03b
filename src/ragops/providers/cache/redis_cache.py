"""Redis cache: shared by every instance. Keys are namespaced with `ragops:`."""

from __future__ import annotations

from redis.asyncio import Redis

PREFIX = "ragops:"


class RedisCache:
    """Bytes by key in Redis, with server-side expiry."""

    backend = "redis"

    def __init__(self, url: str, *, socket_timeout: float = 2.0) -> None:
        self._redis: Redis = Redis.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
        )

    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""
        value = await self._redis.get(PREFIX + key)
        if value is None or isinstance(value, bytes):
            return value
        return str(value).encode()

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        """Store a value with a time to live."""
        await self._redis.set(PREFIX + key, value, ex=ttl_seconds)

    async def delete(self, key: str) -> None:
        """Forget one key."""
        await self._redis.delete(PREFIX + key)

    async def delete_prefix(self, prefix: str) -> int:
        """Forget every key starting with `prefix` (SCAN, never KEYS)."""
        removed = 0
        batch: list[bytes] = []
        async for key in self._redis.scan_iter(match=_glob_escape(PREFIX + prefix) + "*"):
            batch.append(key)
            if len(batch) >= 500:
                removed += int(await self._redis.delete(*batch))
                batch.clear()
        if batch:
            removed += int(await self._redis.delete(*batch))
        return removed

    async def ping(self) -> None:
        """Raise if Redis does not answer."""
        await self._redis.ping()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
