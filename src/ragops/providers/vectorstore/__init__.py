"""Vector store providers: the `VectorStore` interface, the embedded engine and a Qdrant server."""

from ragops.providers.vectorstore.base import (
    ChunkPoint,
    PointRef,
    SearchScope,
    SparseVector,
    StoredHit,
    VectorStore,
)

__all__ = ["ChunkPoint", "PointRef", "SearchScope", "SparseVector", "StoredHit", "VectorStore"]
