"""Builds the configured `Embedder` (`settings.embedder`) and resolves its vector size."""

from __future__ import annotations

from ragops.config.settings import Settings
from ragops.providers.embedder.base import Embedder, EmbedderError


def create_embedder(settings: Settings) -> Embedder:
    """The embedder named by `settings.embedder`: "onnx-minilm" (offline) or "openai"."""
    if settings.embedder == "onnx-minilm":
        from ragops.providers.embedder.onnx_minilm import OnnxMiniLMEmbedder

        return OnnxMiniLMEmbedder(batch_size=settings.embedding_batch_size)
    if settings.embedder == "openai":
        from ragops.providers.embedder.openai_api import OpenAIEmbedder

        return OpenAIEmbedder.from_settings(settings)
    raise EmbedderError(f"unknown embedder {settings.embedder!r}")


async def resolve_dimension(embedder: Embedder) -> int:
    """The embedder's vector size, asking the provider with one probe text if need be."""
    try:
        return embedder.dimension
    except EmbedderError:
        vector = await embedder.embed_query("dimension probe")
        return int(vector.shape[0])
