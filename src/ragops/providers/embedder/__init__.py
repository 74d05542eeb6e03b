"""Embedding providers: the `Embedder` interface and its implementations."""

from ragops.providers.embedder.base import Embedder, Vectors

__all__ = ["Embedder", "Vectors"]
