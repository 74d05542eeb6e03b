"""The `VectorStore` interface: chunk points with a dense and a sparse (BM25) vector each.

Every point carries a payload with at least `tenant_id`, `collection`, `document_id`,
`version`, `chunk_id`, `title`, `section`, `text`, `start`, `end`, `ordinal`. Searches are
always scoped to one tenant (and optionally one collection): a scope is not optional, so no
caller can forget it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ragops.errors import ServiceUnavailable


class VectorStoreError(ServiceUnavailable):
    """The store failed, or its collection does not fit the embedder (wrong vector size)."""


@dataclass(frozen=True, slots=True)
class SparseVector:
    """A sparse vector: term ids and their weights (same length, ids unique)."""

    indices: list[int]
    values: list[float]


@dataclass(frozen=True, slots=True)
class ChunkPoint:
    """One chunk as stored: id (a UUID string), vectors and payload. `sentences`, when
    given, holds one row per unit of the chunk (its title and sentences, `retrieval.units`):
    the store keeps them with the point and `sentence_scores` compares a question with them.
    `second`, when given, is the chunk's vector of the second embedder
    (`RAGOPS_SECOND_EMBEDDER`), kept only by a store that `holds_second`."""

    id: str
    dense: npt.NDArray[np.float32]
    sparse: SparseVector
    payload: dict[str, Any]
    sentences: npt.NDArray[np.float32] | None = None
    second: npt.NDArray[np.float32] | None = None


@dataclass(frozen=True, slots=True)
class SearchScope:
    """Which points a search may see: one tenant, optionally one collection."""

    tenant_id: str
    collection: str | None = None
    document_ids: tuple[str, ...] | None = None


@dataclass(slots=True)
class StoredHit:
    """A search result: the point id, the backend's score, payload and (if asked) dense vector
    and second embedder's vector (None for a point stored without one)."""

    id: str
    score: float
    payload: dict[str, Any]
    dense: npt.NDArray[np.float32] | None = field(default=None)
    second: npt.NDArray[np.float32] | None = field(default=None)


@dataclass(frozen=True, slots=True)
class PointRef:
    """What a consistency scan needs of a point: its id, owner and when it was written
    (`written_at`, seconds since the epoch; None for points written before it was recorded)."""

    id: str
    tenant_id: str
    collection: str
    document_id: str
    written_at: float | None


SCAN_FIELDS = ["tenant_id", "collection", "document_id", "written_at"]
"""The payload fields a scan reads."""


def point_ref(point_id: object, payload: dict[str, Any] | None) -> PointRef:
    """A `PointRef` from a scanned point's id and (partial) payload."""
    data = payload or {}
    written = data.get("written_at")
    return PointRef(
        id=str(point_id),
        tenant_id=str(data.get("tenant_id", "")),
        collection=str(data.get("collection", "")),
        document_id=str(data.get("document_id", "")),
        written_at=float(written) if isinstance(written, int | float) else None,
    )


def in_scope(hit: StoredHit, scope: SearchScope) -> bool:
    """Whether a fetched point belongs to the scope's tenant (and collection, if set)."""
    payload = hit.payload
    if payload.get("tenant_id") != scope.tenant_id:
        return False
    return scope.collection is None or payload.get("collection") == scope.collection


def check_point(point: ChunkPoint, dimension: int | None) -> None:
    """Raise `VectorStoreError` for a point without a tenant in its payload or with a dense
    vector of another size than `dimension` (what every store refuses to write)."""
    if "tenant_id" not in point.payload:
        raise VectorStoreError(f"point {point.id} has no tenant_id in its payload")
    if point.dense.shape != (dimension,):
        raise VectorStoreError(f"point {point.id} has a dense vector of shape {point.dense.shape}")


@runtime_checkable
class VectorStore(Protocol):
    """Stores chunk points and searches them by dense or sparse vector."""

    async def ensure_ready(self, dimension: int) -> None:
        """Create the collection and payload indexes if missing; check the vector size."""
        ...

    @property
    def holds_sentences(self) -> bool:
        """Whether points written now keep their sentence vectors (known after `ensure_ready`;
        false for a collection created without the sentence multivector)."""
        ...

    @property
    def holds_second(self) -> bool:
        """Whether the collection has the second embedder's vector (known after
        `ensure_ready`; only a collection created with `RAGOPS_SECOND_EMBEDDER` set has it):
        `upsert` keeps `ChunkPoint.second`, `search_dense(second=True)` searches it."""
        ...

    async def upsert(self, points: Sequence[ChunkPoint]) -> None:
        """Insert or replace points (waits until they are searchable)."""
        ...

    async def search_dense(
        self,
        vector: npt.NDArray[np.float32],
        scope: SearchScope,
        limit: int,
        with_payload: bool = True,
        *,
        second: bool = False,
    ) -> list[StoredHit]:
        """Nearest points by cosine similarity, best first (payloads empty unless asked);
        `second`: by the second embedder's vector (`VectorStoreError` unless `holds_second`)."""
        ...

    async def search_sparse(
        self,
        vector: SparseVector,
        scope: SearchScope,
        limit: int,
        with_dense: bool = True,
        with_payload: bool = True,
    ) -> list[StoredHit]:
        """Best points by sparse dot product (BM25 with IDF), best first."""
        ...

    async def fetch(
        self,
        point_ids: Sequence[str],
        scope: SearchScope,
        *,
        with_dense: bool = False,
        with_second: bool = False,
    ) -> list[StoredHit]:
        """Payloads (and dense vectors, second embedder's vectors when asked) of these points,
        score 0. Points that no longer exist, or lie outside `scope`'s tenant, are left out."""
        ...

    async def sentence_scores(
        self, vector: npt.NDArray[np.float32], point_ids: Sequence[str], scope: SearchScope
    ) -> dict[str, float] | None:
        """Each of these points' best sentence cosine to `vector` (MaxSim over the units
        stored with it), in one call restricted to the ids; points without sentence vectors
        (or outside `scope`) are absent. None when the collection cannot hold sentence
        vectors at all (created before they existed)."""
        ...

    async def delete_document(
        self,
        tenant_id: str,
        document_id: str,
        *,
        version: int | None = None,
        except_version: int | None = None,
    ) -> None:
        """Delete a document's points: all, one version, or all but one version."""
        ...

    async def delete_points(self, point_ids: Sequence[str]) -> None:
        """Delete exactly these points (e.g. what one failed ingest attempt wrote)."""
        ...

    async def count(self, scope: SearchScope) -> int:
        """Number of points in scope."""
        ...

    def scan(
        self, tenant_id: str | None = None, batch: int = 1000
    ) -> AsyncIterator[list[PointRef]]:
        """Every point (of one tenant, or of all), `batch` at a time, without vectors."""
        ...

    async def ping(self) -> None:
        """Raise if the store cannot answer."""
        ...

    async def aclose(self) -> None:
        """Close clients and flush local storage."""
        ...
