"""What the /ops console shows of the configuration: the answer cache and the database pool
as they are set up in this process (not placeholders)."""

from __future__ import annotations

from typing import Any

from ragops.cache.matching import semantic_threshold
from ragops.config import Settings
from ragops.db.engine import SQLITE_POOL_OVERFLOW, SQLITE_POOL_SIZE, sqlite_file


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
    """The database backend and its connection pool: PostgreSQL's from the settings, a SQLite
    file's fixed one (SQLAlchemy's defaults), none for an in-memory SQLite database."""
    pool_min: int | None = settings.db_pool_min
    pool_max: int | None = settings.db_pool_max
    recycle: int | None = settings.db_pool_recycle
    if backend == "sqlite":
        on_file = sqlite_file(settings.resolved_database_url)
        pool_min = SQLITE_POOL_SIZE if on_file else None
        pool_max = SQLITE_POOL_SIZE + SQLITE_POOL_OVERFLOW if on_file else None
        recycle = None
    return {
        "backend": backend,
        "pool_min": pool_min,
        "pool_max": pool_max,
        "pool_timeout_seconds": settings.db_pool_timeout,
        "pool_recycle_seconds": recycle,
    }
