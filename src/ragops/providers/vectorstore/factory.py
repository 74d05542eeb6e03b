"""Builds the `VectorStore` for the configured embedder: embedded engine or Qdrant server."""

from __future__ import annotations

from ragops.config.settings import Settings
from ragops.providers.embedder.base import Embedder, EmbedderError
from ragops.providers.vectorstore.base import VectorStore
from ragops.providers.vectorstore.edge import EdgeVectorStore
from ragops.providers.vectorstore.qdrant import QdrantVectorStore


def create_vector_store(settings: Settings, embedder: Embedder) -> VectorStore:
    """A store whose collection is named after the embedder's model and vector size.

    With `settings.qdrant_url` set: the Qdrant server through qdrant-client. Without it: the
    embedded Qdrant Edge engine under `settings.edge_path`, locked to this process until
    `aclose()` (a second process gets a `VectorStoreError` naming the holder). When the
    embedder does not know its vector size yet (an API model without
    `RAGOPS_EMBEDDING_DIMENSIONS`), the store learns it from `ensure_ready(dimension)` (see
    `embedder.factory.resolve_dimension`).
    """
    try:
        dimension: int | None = embedder.dimension
    except EmbedderError:
        dimension = None
    if settings.qdrant_url is None:
        return EdgeVectorStore(settings, model_id=embedder.model_id, dimension=dimension)
    return QdrantVectorStore(settings, model_id=embedder.model_id, dimension=dimension)
