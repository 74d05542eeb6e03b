"""The semantic answer cache: a question's embedding is compared with the cached questions of
the same tenant, collection, corpus version and answer settings; the nearest one above the
threshold for `RAGOPS_SEMANTIC_CACHE_MAX_ERROR` that passes the lexical guards
(`cache.matching`) lends its cached answer.

Entries (question, vector, exact-entry key) live in a `VectorIndex`: Redis when configured,
so every instance shares them, else in process. They expire with the exact entry they point
to, at a time fixed when they are added.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np

from ragops.cache import matching
from ragops.cache.service import Lookup
from ragops.providers.cache.vectors import VectorEntry, VectorIndex
from ragops.providers.embedder import Embedder

CANDIDATES = 5


class SemanticCache:
    """Finds a cached question meaning the same as a new one."""

    def __init__(
        self, *, index: VectorIndex, embedder: Embedder, threshold: float, ttl_seconds: int
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.threshold = threshold
        self.ttl_seconds = ttl_seconds

    async def _vector(self, lookup: Lookup) -> np.ndarray:
        if lookup.vector is None:
            lookup.vector = np.asarray(
                await self.embedder.embed_query(lookup.question), dtype=np.float32
            )
        vector: np.ndarray = lookup.vector
        return vector

    async def find(self, lookup: Lookup, *, tenant_id: str) -> str | None:
        """The exact key of the best acceptable candidate, or None."""
        vector = await self._vector(lookup)
        for similarity, entry in await self.index.search(lookup.semantic_scope, vector, CANDIDATES):
            if similarity < self.threshold:
                break
            if matching.guard(lookup.question, entry.text).ok:
                return entry.ref
        return None

    async def remember(self, lookup: Lookup, *, tenant_id: str) -> None:
        """Index the question of a newly cached answer."""
        vector = await self._vector(lookup)
        entry_id = hashlib.sha256(lookup.key.encode()).hexdigest()[:24]
        await self.index.add(
            lookup.semantic_scope,
            VectorEntry(
                entry_id=entry_id,
                text=lookup.question,
                vector=vector,
                ref=lookup.key,
                expires=time.time() + self.ttl_seconds,
            ),
        )

    async def clear(self, prefix: str) -> int:
        """Forget the indexed questions under a key prefix."""
        return await self.index.delete_prefix(prefix)

    async def aclose(self) -> None:
        """Release the index's connections."""
        await self.index.aclose()
