"""Pick the cache backend from settings: Redis when `RAGOPS_REDIS_URL` is set, else memory."""

from __future__ import annotations

from ragops.config import Settings
from ragops.providers.cache.base import Cache
from ragops.providers.cache.memory import MemoryCache
from ragops.providers.cache.redis_cache import RedisCache


def create_cache(settings: Settings) -> Cache:
    """The configured cache."""
    if settings.redis_url is not None:
        return RedisCache(settings.redis_url.get_secret_value())
    return MemoryCache()
