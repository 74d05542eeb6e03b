"""Build the answer cache from settings (None when `RAGOPS_ANSWER_CACHE` is off)."""

from __future__ import annotations

from ragops.cache import keys, matching
from ragops.cache.semantic import SemanticCache
from ragops.cache.service import AnswerCache
from ragops.chat.citations import CITATIONS_VERSION
from ragops.chat.extractive import ANSWERER_VERSION
from ragops.chat.prompts import SYSTEM_PROMPT
from ragops.config import Settings
from ragops.db import Database
from ragops.providers.cache import Cache
from ragops.providers.cache.vectors import MemoryVectorIndex, RedisVectorIndex, VectorIndex
from ragops.providers.embedder import Embedder


def create_answer_cache(
    settings: Settings, *, db: Database, cache: Cache, embedder: Embedder
) -> AnswerCache | None:
    """The process's answer cache on the configured cache backend."""
    if not settings.answer_cache:
        return None
    semantic = None
    if settings.semantic_cache:
        index: VectorIndex = (
            RedisVectorIndex(settings.redis_url.get_secret_value())
            if settings.redis_url is not None
            else MemoryVectorIndex()
        )
        semantic = SemanticCache(
            index=index,
            embedder=embedder,
            threshold=matching.semantic_threshold(
                settings.semantic_cache_threshold,
                settings.semantic_cache_max_error,
                settings.embedder,
            ),
            ttl_seconds=settings.cache_ttl_seconds,
        )
    return AnswerCache(
        settings=settings,
        db=db,
        cache=cache,
        fingerprint=keys.fingerprint(
            settings,
            prompt=SYSTEM_PROMPT,
            embedder_model=embedder.model_id,
            rules=f"{ANSWERER_VERSION}.{CITATIONS_VERSION}",
        ),
        semantic=semantic,
    )
