"""Builds the `VectorStore` for the configured embedder (Qdrant, local or server)."""

from __future__ import annotations

from ragops.config.settings import Settings
from ragops.providers.embedder.base import Embedder, EmbedderError
from ragops.providers.vectorstore.qdrant import QdrantVectorStore


def create_vector_store(settings: Settings, embedder: Embedder) -> QdrantVectorStore:
    """A Qdrant store whose collection is named after the embedder's model and vector size.

    Local mode (no `settings.qdrant_url`) opens `settings.qdrant_path` and holds its file
    lock until `aclose()`: one store per path and process. When the embedder does not know
    its vector size yet (an API model without `RAGOPS_EMBEDDING_DIMENSIONS`), the store
    learns it from `ensure_ready(dimension)` (see `embedder.factory.resolve_dimension`).
    """
    try:
        dimension: int | None = embedder.dimension
    except EmbedderError:
        dimension = None
    return QdrantVectorStore(settings, model_id=embedder.model_id, dimension=dimension)
