"""What the /ops console shows of the configuration: the answer cache and the database pool
as they are set up in this process (not placeholders)."""

from __future__ import annotations

from typing import Any

from ragops.cache.matching import semantic_threshold
from ragops.config import Settings


def cache_view(settings: Settings, backend: str) -> dict[str, Any]:
    """The answer cache: on or off, backend, time to live, semantic threshold."""
    semantic = settings.answer_cache and settings.semantic_cache
    threshold = semantic_threshold(
        settings.semantic_cache_threshold, settings.semantic_cache_max_error, settings.embedder
    )
    return {
        "enabled": settings.answer_cache,
        "backend": backend,
        "ttl_seconds": settings.cache_ttl_seconds,
        "semantic": semantic,
        "semantic_max_error": settings.semantic_cache_max_error if semantic else None,
        "semantic_threshold": threshold if semantic else None,
    }


def database_view(settings: Settings, backend: str) -> dict[str, Any]:
    """The database backend and its connection pool (SQLite has none: one file, WAL)."""
    pooled = backend != "sqlite"
    return {
        "backend": backend,
        "pool_min": settings.db_pool_min if pooled else None,
        "pool_max": settings.db_pool_max if pooled else None,
        "pool_timeout_seconds": settings.db_pool_timeout,
        "pool_recycle_seconds": settings.db_pool_recycle if pooled else None,
    }
