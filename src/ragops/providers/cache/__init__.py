"""Cache providers: the `Cache` interface, in-process and Redis implementations."""

from ragops.providers.cache.base import Cache

__all__ = ["Cache"]
