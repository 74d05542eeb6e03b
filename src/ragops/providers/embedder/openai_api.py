"""Production `Embedder` against any OpenAI-compatible `/v1/embeddings` endpoint.

Uses the official `openai` client (`AsyncOpenAI`) with `settings.embedding_base_url` and
`settings.embedding_api_key`, so OpenAI itself, Azure-style gateways, vLLM, Ollama, TEI and
LiteLLM all work. Texts go out in batches of `settings.embedding_batch_size`, a few batches
at a time; vectors come back L2-normalised as float32 whatever the server sends.

The vector size is `settings.embedding_dimensions` when set (every answer is checked against
it); otherwise it is learned from the first answer. `probe()` makes that first call
explicitly; `dimension` raises until the size is known. Every failure — unreachable host,
timeout, HTTP error, malformed answer — surfaces as `EmbedderError` with the model named.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence

import numpy as np
import openai

from ragops.config.settings import Settings
from ragops.providers.embedder.base import EmbedderError, Vectors

_MAX_PARALLEL_REQUESTS = 4


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible HTTP API."""

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        dimension: int | None = None,
        batch_size: int = 64,
        timeout: float = 30.0,
        max_retries: int = 2,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._model = model
        self._dimension = dimension
        self._batch_size = batch_size
        # A key is mandatory for the client; local servers without auth ignore it.
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=api_key or "unused",
            timeout=timeout,
            max_retries=max_retries,
        )
        self._limit = asyncio.Semaphore(_MAX_PARALLEL_REQUESTS)

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIEmbedder:
        """Build from `RAGOPS_EMBEDDING_*` settings."""
        key = settings.embedding_api_key.get_secret_value() if settings.embedding_api_key else None
        return cls(
            model=settings.embedding_model,
            base_url=settings.embedding_base_url,
            api_key=key,
            dimension=settings.embedding_dimensions,
            batch_size=settings.embedding_batch_size,
        )

    @property
    def model_id(self) -> str:
        """`openai-<model>`, slugged (the endpoint URL does not change what vectors mean)."""
        return "openai-" + re.sub(r"[^a-z0-9._-]+", "-", self._model.lower()).strip("-")

    @property
    def dimension(self) -> int:
        """Vector size; raises `EmbedderError` until configured or learned by `probe()`."""
        if self._dimension is None:
            raise EmbedderError(
                f"vector size of {self._model} unknown: set RAGOPS_EMBEDDING_DIMENSIONS or "
                "call probe() first"
            )
        return self._dimension

    async def probe(self) -> int:
        """Embed one word to check the endpoint and learn the vector size."""
        await self.embed_documents(["dimension probe"])
        return self.dimension

    async def _embed_batch(self, texts: Sequence[str]) -> Vectors:
        # Most servers refuse empty strings; a space embeds as "nothing" everywhere.
        inputs = [text if text.strip() else " " for text in texts]
        async with self._limit:
            try:
                response = await self._client.embeddings.create(
                    model=self._model, input=inputs, encoding_format="float"
                )
            except openai.APIStatusError as exc:
                raise EmbedderError(
                    f"embedding endpoint refused model {self._model}: HTTP {exc.status_code} "
                    f"{exc.message}"
                ) from exc
            except openai.APIError as exc:
                raise EmbedderError(
                    f"embedding endpoint failed for model {self._model}: {exc}"
                ) from exc
        items = sorted(response.data, key=lambda item: item.index)
        if len(items) != len(inputs):
            raise EmbedderError(
                f"embedding endpoint returned {len(items)} vectors for {len(inputs)} texts"
            )
        try:
            matrix = np.asarray([item.embedding for item in items], dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise EmbedderError(f"malformed embeddings from {self._model}: {exc}") from exc
        if matrix.ndim != 2 or matrix.shape[1] == 0:
            raise EmbedderError(f"malformed embeddings from {self._model}: shape {matrix.shape}")
        if self._dimension is None:
            self._dimension = int(matrix.shape[1])
        elif matrix.shape[1] != self._dimension:
            raise EmbedderError(
                f"{self._model} returned vectors of size {matrix.shape[1]}, "
                f"expected {self._dimension}"
            )
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        unit: Vectors = (matrix / np.clip(norms, 1e-12, None)).astype(np.float32)
        return unit

    async def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed passages; shape (len(texts), dimension), unit length."""
        if not texts:
            return np.zeros((0, self._dimension or 0), dtype=np.float32)
        batches = [
            texts[start : start + self._batch_size]
            for start in range(0, len(texts), self._batch_size)
        ]
        parts = await asyncio.gather(*(self._embed_batch(batch) for batch in batches))
        return np.concatenate(parts, axis=0)

    async def embed_query(self, text: str) -> Vectors:
        """Embed one query; shape (dimension,), unit length."""
        vector: Vectors = (await self._embed_batch([text]))[0]
        return vector

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.close()
