"""The answer cache: look a question up before retrieval, remember a grounded answer after it.

Exact entries live in the configured cache provider (in-process LRU, or Redis shared by every
instance) for `RAGOPS_CACHE_TTL_SECONDS`; the time to live never slides on hits. Keys name the
collection's corpus version (read fresh from the database for each question), so an ingest or
delete makes every answer computed on the older corpus unreachable on every instance at once.
Only grounded answers are stored: never an error, never an answer without citations, never a
fallback produced because a provider failed. A cache that fails (Redis down) is a miss, not
an error: the question is answered the long way.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from ragops.cache import keys, versions
from ragops.cache.models import CacheClearResult, CachedAnswer, CacheStatus
from ragops.config import Settings
from ragops.db import Database
from ragops.observability import metrics
from ragops.providers.cache import Cache
from ragops.providers.embedder.base import EmbedderError

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Lookup:
    """The outcome of one lookup and what storing the answer afterwards needs."""

    status: CacheStatus
    entry: CachedAnswer | None
    key: str
    semantic_scope: str
    question: str
    query: str
    follow_up: bool
    vector: Any = None
    seconds: float = 0.0
    """Time spent looking up so far (the `cache_lookup` stage)."""

    @property
    def hit(self) -> bool:
        """Whether a cached answer is served."""
        return self.entry is not None


class SemanticLookup(Protocol):
    """The semantic half of the cache (`cache.semantic`), kept behind this small seam."""

    async def find(self, lookup: Lookup, *, tenant_id: str) -> str | None:
        """The exact key of a cached answer meaning the same, or None; may set
        `lookup.vector` for a later `remember`."""
        ...

    async def remember(self, lookup: Lookup, *, tenant_id: str) -> None:
        """Index the question of a newly stored answer."""
        ...

    async def clear(self, prefix: str) -> int:
        """Forget every indexed question under a key prefix."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class AnswerCache:
    """Exact (and, when configured, semantic) answer lookups for one process."""

    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        cache: Cache,
        fingerprint: str,
        semantic: SemanticLookup | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.cache = cache
        self.fingerprint = fingerprint
        self.semantic = semantic
        self.versions = versions.FreshReads(
            lambda tenant, collection: versions.current(
                db=db, tenant_id=tenant, collection=collection
            )
        )

    async def lookup(
        self, *, tenant_id: str, collection: str, question: str, query: str, follow_up: bool
    ) -> Lookup:
        """Find a cached answer to `question` (standalone retrieval query `query`): the exact
        entry, else (when configured) one meaning the same."""
        lookup = await self.lookup_exact(
            tenant_id=tenant_id,
            collection=collection,
            question=question,
            query=query,
            follow_up=follow_up,
        )
        return await self.lookup_semantic(lookup, tenant_id=tenant_id)

    async def lookup_exact(
        self, *, tenant_id: str, collection: str, question: str, query: str, follow_up: bool
    ) -> Lookup:
        """The exact half of `lookup`: the corpus version read fresh, then the exact entry.
        On a miss, `lookup_semantic` finishes the lookup."""
        started = time.perf_counter()
        version = await self.versions.current(tenant_id, collection)
        lookup = Lookup(
            status="miss",
            entry=None,
            key=self._exact_key(tenant_id, collection, version, question, query),
            semantic_scope=keys.semantic_scope(
                tenant_id=tenant_id,
                collection=collection,
                version=version,
                fingerprint=self.fingerprint,
            ),
            question=question,
            query=query,
            follow_up=follow_up,
        )
        lookup.entry = await self._get(lookup.key)
        metrics.record_cache("exact", lookup.entry is not None)
        lookup.seconds = time.perf_counter() - started
        if lookup.entry is not None:
            lookup.status = "hit-exact"
            metrics.observe_stage("cache_lookup", lookup.seconds)
        return lookup

    def _exact_key(
        self, tenant_id: str, collection: str, version: int, question: str, query: str
    ) -> str:
        """The exact entry's key under `version` (one definition for both lookups)."""
        return keys.exact_key(
            tenant_id=tenant_id,
            collection=collection,
            version=version,
            fingerprint=self.fingerprint,
            question=question,
            query=query,
        )

    async def exact_raw(
        self, *, tenant_id: str, collection: str, question: str, query: str
    ) -> bytes | None:
        """The stored bytes of a question's exact entry (corpus version read fresh, as in
        `lookup_exact`), or None on a miss or a failing backend; counts nothing. The lean path
        of exact hits (`chat.fastpath`) records the lookup itself when it serves the entry,
        and leaves a miss to `lookup_exact` on the ordinary path, which counts and logs it."""
        version = await self.versions.current(tenant_id, collection)
        key = self._exact_key(tenant_id, collection, version, question, query)
        try:
            return await self.cache.get(key)
        except Exception:  # the ordinary path looks it up again and logs the failure
            return None

    async def lookup_semantic(self, lookup: Lookup, *, tenant_id: str) -> Lookup:
        """The semantic half of `lookup`, after an exact miss (a follow-up's meaning depends
        on its session: only its exact key is safe); records the lookup's stage time."""
        if lookup.hit:
            return lookup
        started = time.perf_counter()
        if self.semantic is not None and not lookup.follow_up:
            found = await self._semantic_find(lookup, tenant_id)
            if found is not None:
                lookup.entry = await self._get(found)
            metrics.record_cache("semantic", lookup.entry is not None)
            if lookup.entry is not None:
                lookup.status = "hit-semantic"
        lookup.seconds += time.perf_counter() - started
        metrics.observe_stage("cache_lookup", lookup.seconds)
        return lookup

    async def remember(
        self,
        lookup: Lookup,
        *,
        tenant_id: str,
        answer: str,
        citations: list[dict[str, Any]],
        mode: str,
        fallback_reason: str | None,
    ) -> bool:
        """Store a freshly computed answer if it is grounded; returns whether it was."""
        if lookup.hit or fallback_reason is not None or not citations or not answer.strip():
            return False
        entry = CachedAnswer(
            question=lookup.question,
            answer=answer,
            citations=citations,
            mode=mode,
            created=time.time(),
        )
        try:
            await self.cache.set(
                lookup.key, entry.model_dump_json().encode(), self.settings.cache_ttl_seconds
            )
            if self.semantic is not None and not lookup.follow_up:
                await self.semantic.remember(lookup, tenant_id=tenant_id)
        except Exception:
            logger.warning("could not store an answer in the cache", exc_info=True)
            return False
        return True

    async def clear(self, *, tenant_id: str | None, collection: str | None) -> CacheClearResult:
        """Make the matching cached answers unreachable everywhere (bump their corpus
        versions in the database), then delete them from the backend to free memory."""
        scopes = await versions.bump_matching(
            db=self.db, tenant_id=tenant_id, collection=collection
        )
        if tenant_id is None and collection is not None:  # one collection name, any tenant
            prefixes = [keys.scope_prefix(tenant, name) for tenant, name in scopes]
        else:
            prefixes = [keys.scope_prefix(tenant_id, collection)]
        removed = 0
        for prefix in prefixes:
            try:
                removed += await self.cache.delete_prefix(prefix)
                if self.semantic is not None:
                    removed += await self.semantic.clear(prefix)
            except Exception:
                logger.warning("could not delete cached answers under %s", prefix, exc_info=True)
        return CacheClearResult(
            tenant_id=tenant_id, collection=collection, scopes=len(scopes), entries_removed=removed
        )

    async def aclose(self) -> None:
        """Close the semantic index (the cache backend belongs to the runtime)."""
        if self.semantic is not None:
            await self.semantic.aclose()

    async def _get(self, key: str) -> CachedAnswer | None:
        try:
            raw = await self.cache.get(key)
        except Exception:
            logger.warning("cache lookup failed; answering without it", exc_info=True)
            return None
        if raw is None:
            return None
        try:
            return CachedAnswer.model_validate_json(raw)
        except ValueError:
            logger.warning("unreadable cache entry %s dropped", key)
            return None

    async def _semantic_find(self, lookup: Lookup, tenant_id: str) -> str | None:
        assert self.semantic is not None
        try:
            return await self.semantic.find(lookup, tenant_id=tenant_id)
        except EmbedderError:  # the embedder's own fallback switch is logged once, not here
            return None
        except Exception:
            logger.warning("semantic cache lookup failed; answering without it", exc_info=True)
            return None
