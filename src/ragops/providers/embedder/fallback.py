"""`FallbackEmbedder`: a remote embedder whose questions fall back to the bundled local model.

When the configured remote embedder (`RAGOPS_EMBEDDER=openai`) fails on a question, the
question is embedded by the bundled local model instead, provided its vectors have the
collection's size (384, `onnx-minilm`); the answer then says it is degraded
(`embedding_fallback`: body, `X-Degraded` header, `ragops_degraded_responses_total`) and
`ragops_fallback_active{component="embedder"}` is 1 while it lasts. Vector sizes that differ
cannot be searched together, so then the request fails with `EmbedderError` (503 with
`Retry-After`).

Equal sizes do not make two models' vectors comparable: the fallback ranks well only when the
remote endpoint serves the same model as the local one (a TEI or vLLM server running
all-MiniLM-L6-v2, say), and poorly otherwise; the degraded flag tells which answers to doubt.

Only questions fall back. Documents are stored, so they are embedded by the collection's own
model or not at all: ingestion answers 503 while the remote embedder is down.

After a failure the remote embedder is not asked again for `retry_seconds` (questions go
straight to the fallback, or fail at once without one); the first question after that tries it
again, and a success ends the fallback (`fallback_recovered`, logged once).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from ragops.observability.degradation import fallback_engaged, fallback_recovered, note_degraded
from ragops.providers.embedder.base import Embedder, EmbedderError, Vectors

COMPONENT = "embedder"
REASON = "embedding_fallback"


class FallbackEmbedder:
    """The remote `primary` for everything; the local model for questions while it fails."""

    def __init__(
        self,
        primary: Embedder,
        local: Callable[[], Embedder],
        *,
        retry_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self._make_local = local
        self._local: Embedder | None = None
        self.retry_seconds = retry_seconds
        self._clock = clock
        self._failed_until = 0.0
        self._last_error = ""

    @property
    def model_id(self) -> str:
        """The remote model's id: the collection stays the remote model's."""
        return self.primary.model_id

    @property
    def dimension(self) -> int:
        """The remote model's vector size."""
        return self.primary.dimension

    def local(self) -> Embedder:
        """The bundled local model (built on first use)."""
        if self._local is None:
            self._local = self._make_local()
        return self._local

    def compatible(self) -> bool:
        """Whether the local model's vectors have the collection's size."""
        try:
            return self.local().dimension == self.primary.dimension
        except EmbedderError:  # the remote size is not known yet: nothing to fit
            return False

    @property
    def failing(self) -> bool:
        """Whether the remote embedder failed within the last `retry_seconds`."""
        return self._clock() < self._failed_until

    async def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Passages, by the remote model only (stored vectors must be the collection's)."""
        if self.failing:
            raise EmbedderError(f"the embedding endpoint is failing: {self._last_error}")
        return await self._primary_call(self.primary.embed_documents(texts))

    async def embed_query(self, text: str) -> Vectors:
        """The question's vector: remote, else local when sizes match, else EmbedderError."""
        if not self.failing:
            try:
                return await self._primary_call(self.primary.embed_query(text))
            except EmbedderError:
                pass
        if not self.compatible():
            raise EmbedderError(
                f"the embedding endpoint is failing ({self._last_error}) and the local model's "
                "vectors do not fit the collection: questions cannot be searched"
            )
        note_degraded(f"{REASON}: question embedded by the local model ({self._last_error})")
        vector: Vectors = await self.local().embed_query(text)
        return vector

    async def embed_query_strict(self, text: str) -> Vectors:
        """The question's vector by the remote model only (for lookups that must not mix
        models, such as the semantic cache); fails at once while the remote one is failing."""
        if self.failing:
            raise EmbedderError(f"the embedding endpoint is failing: {self._last_error}")
        return await self._primary_call(self.primary.embed_query(text))

    def strict(self) -> StrictEmbedder:
        """A view of this embedder that never falls back."""
        return StrictEmbedder(self)

    async def _primary_call(self, call: Any) -> Vectors:
        try:
            vectors: Vectors = await call
        except EmbedderError as exc:
            self._last_error = str(exc)
            self._failed_until = self._clock() + self.retry_seconds
            fallback_engaged(COMPONENT, self._last_error)
            raise
        self._failed_until = 0.0
        fallback_recovered(COMPONENT)
        return vectors

    async def aclose(self) -> None:
        """Close both models."""
        await self.primary.aclose()
        if self._local is not None:
            await self._local.aclose()


class StrictEmbedder:
    """`FallbackEmbedder.strict()`: questions by the remote model or an `EmbedderError`."""

    def __init__(self, chain: FallbackEmbedder) -> None:
        self.chain = chain

    @property
    def model_id(self) -> str:
        return self.chain.model_id

    @property
    def dimension(self) -> int:
        return self.chain.dimension

    async def embed_documents(self, texts: Sequence[str]) -> Vectors:
        return await self.chain.embed_documents(texts)

    async def embed_query(self, text: str) -> Vectors:
        return await self.chain.embed_query_strict(text)

    async def aclose(self) -> None:
        """Nothing of its own: the chain closes the models."""
