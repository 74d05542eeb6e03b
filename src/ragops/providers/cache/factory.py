"""Pick the cache backend from settings: Redis when `RAGOPS_REDIS_URL` is set, else memory."""

from __future__ import annotations

from ragops.config import Settings
from ragops.providers.cache.base import Cache
from ragops.providers.cache.memory import MemoryCache
from ragops.providers.cache.redis_cache import RedisCache
from ragops.providers.cache.resilient import BypassingCache


def create_cache(settings: Settings) -> Cache:
    """The configured cache; a Redis cache is bypassed while Redis is unreachable."""
    if settings.redis_url is not None:
        return BypassingCache(RedisCache(settings.redis_url.get_secret_value(), socket_timeout=1.0))
    return MemoryCache()
