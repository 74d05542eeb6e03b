"""Builds the `VectorStore` for the configured embedder: embedded engine, Qdrant or pgvector."""

from __future__ import annotations

from ragops.config.settings import Settings
from ragops.providers.embedder.base import Embedder, EmbedderError
from ragops.providers.vectorstore.base import VectorStore
from ragops.providers.vectorstore.edge import EdgeVectorStore
from ragops.providers.vectorstore.pgvector import PgVectorStore


def create_vector_store(settings: Settings, embedder: Embedder) -> VectorStore:
    """A store whose collection is named after the embedder's model and vector size.

    `settings.resolved_vector_store` picks it: "pgvector" (tables in the PostgreSQL database of
    `RAGOPS_PGVECTOR_URL`, by default `RAGOPS_DATABASE_URL`), "qdrant" (the Qdrant server of
    `settings.qdrant_url` through qdrant-client), or "edge", the default: the embedded Qdrant
    Edge engine under `settings.edge_path`, locked to this process until `aclose()` (a second
    process gets a `VectorStoreError` naming the holder). When the embedder does not know its
    vector size yet (an API model without `RAGOPS_EMBEDDING_DIMENSIONS`), the store learns it
    from `ensure_ready(dimension)` (see `embedder.factory.resolve_dimension`).
    """
    try:
        dimension: int | None = embedder.dimension
    except EmbedderError:
        dimension = None
    return open_vector_store(settings, model_id=embedder.model_id, dimension=dimension)


def open_vector_store(settings: Settings, *, model_id: str, dimension: int | None) -> VectorStore:
    """The configured store (`settings.resolved_vector_store`) for vectors of `model_id`
    (a restore opens the target's store by the model its backup names)."""
    kind = settings.resolved_vector_store
    if kind == "pgvector":
        return PgVectorStore(settings, model_id=model_id, dimension=dimension)
    if kind == "qdrant":
        # Imported here: qdrant-client takes seconds to import, which the embedded store (every
        # CLI command's default) and pgvector never need.
        from ragops.providers.vectorstore.qdrant import QdrantVectorStore

        return QdrantVectorStore(settings, model_id=model_id, dimension=dimension)
    return EdgeVectorStore(settings, model_id=model_id, dimension=dimension)
