"""A memo of question embeddings: one question is embedded once, not three times (semantic
cache lookup, retrieval, extractive answer). Bounded LRU in process; counted as
`ragops_cache_lookups_total{cache="embedding"}`. Document embeddings pass through."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from ragops.observability import metrics
from ragops.providers.embedder import Embedder
from ragops.providers.embedder.base import Vectors


class MemoEmbedder:
    """Wraps an `Embedder`; `embed_query` answers repeated texts from memory."""

    def __init__(self, inner: Embedder, max_entries: int = 4096) -> None:
        self.inner = inner
        self._memo: OrderedDict[str, Vectors] = OrderedDict()
        self._max_entries = max_entries

    @property
    def model_id(self) -> str:
        """The wrapped model's id."""
        return self.inner.model_id

    @property
    def dimension(self) -> int:
        """The wrapped model's vector length."""
        return self.inner.dimension

    async def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Passages are embedded once each at ingest: no memo."""
        return await self.inner.embed_documents(texts)

    async def embed_query(self, text: str) -> Vectors:
        """The query's vector, from the memo when the same text was embedded recently."""
        found = self._memo.get(text)
        metrics.record_cache("embedding", found is not None)
        if found is not None:
            self._memo.move_to_end(text)
            return found.copy()
        vector = await self.inner.embed_query(text)
        self._memo[text] = vector.copy()
        while len(self._memo) > self._max_entries:
            self._memo.popitem(last=False)
        return vector

    async def aclose(self) -> None:
        """Close the wrapped embedder."""
        self._memo.clear()
        await self.inner.aclose()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
