"""Vector store providers: the `VectorStore` interface and its Qdrant implementation."""

from ragops.providers.vectorstore.base import (
    ChunkPoint,
    SearchScope,
    SparseVector,
    StoredHit,
    VectorStore,
)

__all__ = ["ChunkPoint", "SearchScope", "SparseVector", "StoredHit", "VectorStore"]
