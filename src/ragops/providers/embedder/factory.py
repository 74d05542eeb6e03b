"""Builds the configured `Embedder` (`settings.embedder`) and resolves its vector size."""

from __future__ import annotations

import os
from pathlib import Path

from ragops.config.settings import Settings
from ragops.providers.embedder.base import Embedder, EmbedderError


def create_embedder(settings: Settings) -> Embedder:
    """The embedder named by `settings.embedder`: "onnx-minilm" or "bge-small" (offline), or
    "openai"."""
    if settings.embedder == "onnx-minilm":
        from ragops.providers.embedder.onnx_minilm import OnnxMiniLMEmbedder

        return OnnxMiniLMEmbedder(
            batch_size=settings.embedding_batch_size,
            int8_compute=settings.embedding_int8_compute,
            cache_dir=settings.model_cache_dir or default_cache_dir(),
        )
    if settings.embedder == "bge-small":
        from ragops.providers.embedder.onnx_bge import OnnxBgeSmallEmbedder, model_dir

        model_dir()  # EmbedderError naming the optional package when it is missing
        return OnnxBgeSmallEmbedder(batch_size=settings.embedding_batch_size)
    if settings.embedder == "openai":
        from ragops.providers.embedder.openai_api import OpenAIEmbedder

        return OpenAIEmbedder.from_settings(settings)
    raise EmbedderError(f"unknown embedder {settings.embedder!r}")


def create_second_embedder(settings: Settings) -> Embedder | None:
    """The embedder named by `settings.second_embedder`, or None ("none"): bge-small cut at
    256 word pieces, questions without the instruction (`onnx_bge.OnnxBgeSecondEmbedder`)."""
    if settings.second_embedder == "none":
        return None
    if settings.second_embedder == "bge-small":
        from ragops.providers.embedder.onnx_bge import OnnxBgeSecondEmbedder, model_dir

        model_dir()  # EmbedderError naming the optional package when it is missing
        return OnnxBgeSecondEmbedder(batch_size=settings.embedding_batch_size)
    raise EmbedderError(f"unknown second embedder {settings.second_embedder!r}")


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/ragops, else ~/.cache/ragops: derived model files, shared by every
    data dir of the user (they depend on the installed packages only)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ragops"


async def resolve_dimension(embedder: Embedder) -> int:
    """The embedder's vector size, asking the provider with one probe text if need be."""
    try:
        return embedder.dimension
    except EmbedderError:
        vector = await embedder.embed_query("dimension probe")
        return int(vector.shape[0])
