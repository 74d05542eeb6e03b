"""`VectorStore` on Qdrant: one collection for every tenant, dense + BM25 vectors per chunk.

Modes. The factory picks this store when `RAGOPS_QDRANT_URL` points at a Qdrant server or
cluster (with `RAGOPS_QDRANT_API_KEY`); without a URL it picks the embedded engine
(`edge.py`), which keeps this layout. Built directly with `settings.qdrant_url` unset, this
class runs qdrant-client's local mode under `settings.qdrant_path` — the tests use it to run
the server path's calls without a server. Local mode takes a file lock (one client per path;
a second fails with `VectorStoreError` until `aclose()`), searches by brute force in Python
and ignores payload indexes: at 5,000 points a hybrid search took most of a second, which is
why it is not the default (docs/performance.md).

Layout (names and filters in `qdrant_layout.py`; payload indexes, the selector of a
document's points and the hits read back in `qdrant_requests.py`). One collection, named
`settings.qdrant_collection` plus a suffix made of the embedder's model id and vector size
(`ragops_chunks__all-minilm-l6-v2-int8_384`), so that switching embedding models never mixes
vectors of two models: the new model simply starts an empty collection (re-ingest to fill
it). Each point has a named dense vector "dense" (cosine), a sparse vector "bm25" whose
IDF Qdrant computes (`Modifier.IDF`) and a multivector "sentences" (MaxSim, no HNSW graph),
filled when `RAGOPS_SENTENCE_VECTORS` is on at ingestion; a collection created before it
existed keeps working without it (Qdrant cannot add a named vector to a collection). A
collection created with `RAGOPS_SECOND_EMBEDDER` set also has the dense vector
"dense_second" of the second embedder (`holds_second`); one created without it never gains it.
Payload indexes: `tenant_id` (keyword, `is_tenant`: data is laid out per tenant and the HNSW
graph is built per tenant, `m=0, payload_m=16`),
`collection` and `document_id` (keyword), `version` (integer).

Isolation. Every search and count filters on the scope's tenant (and collection and
document ids when set). BM25's IDF is by default computed over the searched tenant's
collection only (`idf_scope="tenant"`), so one tenant's documents never shift another's
scores; `idf_scope="global"` uses collection-wide statistics (needed for Qdrant servers
older than the client, which do not know per-corpus IDF).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from qdrant_client import AsyncQdrantClient, models

from ragops.config.settings import Settings
from ragops.providers.vectorstore.base import (
    SCAN_FIELDS,
    ChunkPoint,
    PointRef,
    SearchScope,
    SparseVector,
    StoredHit,
    VectorStoreError,
    check_point,
    in_scope,
    point_ref,
)
from ragops.providers.vectorstore.qdrant_layout import (
    DENSE,
    SECOND,
    SENTENCES,
    SPARSE,
    collection_name,
    point_struct,
    scope_filter,
    vectors_config,
    wanted_vectors,
)
from ragops.providers.vectorstore.qdrant_requests import (
    PAYLOAD_INDEXES,
    document_selector,
    ids_filter,
    stored_hit,
    tenant_idf,
)

__all__ = ["DENSE", "SPARSE", "IdfScope", "QdrantVectorStore", "collection_name", "scope_filter"]

IdfScope = Literal["tenant", "global"]


class QdrantVectorStore:
    """Chunks of all tenants in one Qdrant collection (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        *,
        model_id: str,
        dimension: int | None = None,
        idf_scope: IdfScope = "tenant",
        client: AsyncQdrantClient | None = None,
    ) -> None:
        self._base = settings.qdrant_collection
        self._model_id = model_id
        self._dimension = dimension
        self._idf_scope = idf_scope
        self._local = settings.qdrant_url is None
        if client is not None:
            self._client = client
        elif self._local:
            settings.qdrant_path.mkdir(parents=True, exist_ok=True)
            try:
                self._client = AsyncQdrantClient(path=str(settings.qdrant_path))
            except RuntimeError as exc:  # the path's file lock is held
                raise VectorStoreError(
                    f"local Qdrant storage {settings.qdrant_path} is open in another client "
                    "(one process at a time; use a Qdrant server for more): "
                    f"{exc}"
                ) from exc
        else:
            key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
            self._client = AsyncQdrantClient(url=settings.qdrant_url, api_key=key, timeout=30)
        self._closed = False
        self._sentences = False  # the collection has the sentence multivector
        self._second = False  # the collection has the second embedder's vector
        self.settings = settings

    @property
    def client(self) -> AsyncQdrantClient:
        """The qdrant-client instance (backups use its snapshot calls)."""
        return self._client

    @property
    def model_id(self) -> str:
        """The embedding model the collection is named after."""
        return self._model_id

    @property
    def dimension(self) -> int | None:
        """The dense vector size (None until known)."""
        return self._dimension

    @property
    def name(self) -> str:
        """The Qdrant collection's name (known once the vector size is)."""
        if self._dimension is None:
            raise VectorStoreError("vector size unknown: call ensure_ready(dimension) first")
        return collection_name(self._base, self._model_id, self._dimension)

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def holds_sentences(self) -> bool:
        """Whether points written now keep their sentence vectors: the open collection has the
        sentence multivector."""
        return self._sentences

    @property
    def holds_second(self) -> bool:
        """Whether the open collection has the second embedder's vector."""
        return self._second

    async def ensure_ready(self, dimension: int) -> None:
        """Create the collection and its payload indexes if missing; check the vector size."""
        if self._dimension is None:
            self._dimension = dimension
        elif dimension != self._dimension:
            raise VectorStoreError(
                f"store opened for {self._dimension}-dimensional vectors, asked for {dimension}"
            )
        try:
            if await self._client.collection_exists(self.name):
                await self._check_existing()
                return
            second = self.settings.second_dimension
            await self._client.create_collection(
                self.name,
                vectors_config=vectors_config(dimension, second),
                sparse_vectors_config={
                    SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)
                },
                # Searches are always per tenant: build HNSW graphs per tenant, not globally.
                hnsw_config=models.HnswConfigDiff(m=0, payload_m=16),
            )
            self._sentences, self._second = True, second is not None
            if not self._local:  # local mode ignores payload indexes (and warns)
                await self._create_indexes()
        except VectorStoreError:
            raise
        except Exception as exc:
            raise VectorStoreError(f"cannot prepare collection {self.name}: {exc}") from exc

    async def _check_existing(self) -> None:
        info = await self._client.get_collection(self.name)
        vectors = info.config.params.vectors
        size = vectors[DENSE].size if isinstance(vectors, dict) and DENSE in vectors else None
        if size != self._dimension:
            raise VectorStoreError(
                f"collection {self.name} holds vectors of size {size}, not {self._dimension}"
            )
        self._sentences = isinstance(vectors, dict) and SENTENCES in vectors
        self._second = isinstance(vectors, dict) and SECOND in vectors

    async def _create_indexes(self) -> None:
        for field, schema in PAYLOAD_INDEXES.items():
            await self._client.create_payload_index(self.name, field, field_schema=schema)

    async def ping(self) -> None:
        """Raise `VectorStoreError` if the store cannot answer."""
        try:
            await self._client.get_collections()
        except Exception as exc:
            raise VectorStoreError(f"Qdrant unreachable: {exc}") from exc

    async def aclose(self) -> None:
        """Close the client; in local mode this flushes and releases the path's file lock."""
        if not self._closed:
            self._closed = True
            await self._client.close()

    # --- writes --------------------------------------------------------------------------

    async def upsert(self, points: Sequence[ChunkPoint]) -> None:
        """Insert or replace points; returns once they are searchable."""
        if not points:
            return
        name = self.name
        structs = []
        for point in points:
            check_point(point, self._dimension)
            structs.append(point_struct(point, sentences=self._sentences, second=self._second))
        try:
            await self._client.upsert(name, points=structs, wait=True)
        except Exception as exc:
            raise VectorStoreError(f"upsert into {name} failed: {exc}") from exc

    async def delete_document(
        self,
        tenant_id: str,
        document_id: str,
        *,
        version: int | None = None,
        except_version: int | None = None,
    ) -> None:
        """Delete a document's points: all, one version, or all but one version."""
        if version is not None and except_version is not None:
            raise ValueError("give version or except_version, not both")
        selector = document_selector(
            tenant_id, document_id, version=version, except_version=except_version
        )
        try:
            await self._client.delete(self.name, points_selector=selector, wait=True)
        except Exception as exc:
            raise VectorStoreError(f"delete from {self.name} failed: {exc}") from exc

    async def delete_points(self, point_ids: Sequence[str]) -> None:
        """Delete exactly these points (e.g. what one failed ingest attempt wrote)."""
        if not point_ids:
            return
        selector = models.PointIdsList(points=list(point_ids))
        try:
            await self._client.delete(self.name, points_selector=selector, wait=True)
        except Exception as exc:
            raise VectorStoreError(f"deleting points of {self.name} failed: {exc}") from exc

    # --- reads ---------------------------------------------------------------------------

    async def search_dense(
        self,
        vector: npt.NDArray[np.float32],
        scope: SearchScope,
        limit: int,
        with_payload: bool = True,
        *,
        second: bool = False,
    ) -> list[StoredHit]:
        """Nearest points by cosine similarity (the hit's score), best first; `second`: by
        the second embedder's vector."""
        if second and not self._second:
            raise VectorStoreError(f"collection {self.name} has no second embedder's vector")
        try:
            response = await self._client.query_points(
                self.name,
                query=np.asarray(vector, dtype=np.float32).tolist(),
                using=SECOND if second else DENSE,
                query_filter=scope_filter(scope),
                limit=limit,
                with_payload=with_payload,
            )
        except Exception as exc:
            raise VectorStoreError(f"dense search in {self.name} failed: {exc}") from exc
        return [stored_hit(p, float(p.score)) for p in response.points]

    async def search_sparse(
        self,
        vector: SparseVector,
        scope: SearchScope,
        limit: int,
        with_dense: bool = True,
        with_payload: bool = True,
    ) -> list[StoredHit]:
        """Best points by BM25 (sparse dot product with IDF), best first; with their dense
        vectors when `with_dense`, so callers can score them by cosine too."""
        if not vector.indices:
            return []
        flt = scope_filter(scope)
        params = tenant_idf(scope) if self._idf_scope == "tenant" else None
        try:
            response = await self._client.query_points(
                self.name,
                query=models.SparseVector(indices=vector.indices, values=vector.values),
                using=SPARSE,
                query_filter=flt,
                search_params=params,
                limit=limit,
                with_payload=with_payload,
                with_vectors=[DENSE] if with_dense else False,
            )
        except Exception as exc:
            raise VectorStoreError(f"sparse search in {self.name} failed: {exc}") from exc
        return [stored_hit(p, float(p.score), dense=with_dense) for p in response.points]

    async def sentence_scores(
        self, vector: npt.NDArray[np.float32], point_ids: Sequence[str], scope: SearchScope
    ) -> dict[str, float] | None:
        """Each point's best sentence cosine (a MaxSim query restricted to the ids, exact);
        None when the collection predates the sentence multivector."""
        if not self._sentences:
            return None
        if not point_ids:
            return {}
        flt = ids_filter(scope, point_ids)
        try:
            response = await self._client.query_points(
                self.name,
                query=[np.asarray(vector, dtype=np.float32).tolist()],
                using=SENTENCES,
                query_filter=flt,
                # Local mode is always exact (and warns about search params).
                search_params=None if self._local else models.SearchParams(exact=True),
                limit=len(point_ids),
                with_payload=False,
            )
        except Exception as exc:
            raise VectorStoreError(f"sentence scores in {self.name} failed: {exc}") from exc
        return {str(p.id): float(p.score) for p in response.points}

    async def scan(
        self, tenant_id: str | None = None, batch: int = 1000
    ) -> AsyncIterator[list[PointRef]]:
        """Every point (of one tenant, or of all), `batch` at a time, without vectors."""
        flt = scope_filter(SearchScope(tenant_id=tenant_id)) if tenant_id is not None else None
        offset: Any = None
        while True:
            try:
                records, offset = await self._client.scroll(
                    self.name,
                    scroll_filter=flt,
                    limit=batch,
                    offset=offset,
                    with_payload=SCAN_FIELDS,
                    with_vectors=False,
                )
            except Exception as exc:
                raise VectorStoreError(f"scan of {self.name} failed: {exc}") from exc
            if records:
                yield [point_ref(r.id, dict(r.payload or {})) for r in records]
            if offset is None or not records:
                return

    async def fetch(
        self,
        point_ids: Sequence[str],
        scope: SearchScope,
        *,
        with_dense: bool = False,
        with_second: bool = False,
    ) -> list[StoredHit]:
        """Payloads (and vectors) of these points; gone or out-of-scope ones left out."""
        if not point_ids:
            return []
        try:
            records = await self._client.retrieve(
                self.name,
                ids=list(point_ids),
                with_payload=True,
                with_vectors=wanted_vectors(dense=with_dense, second=with_second and self._second),
            )
        except Exception as exc:
            raise VectorStoreError(f"fetching points of {self.name} failed: {exc}") from exc
        hits = [stored_hit(r, 0.0, dense=with_dense, second=with_second) for r in records]
        return [hit for hit in hits if in_scope(hit, scope)]

    async def total_points(self) -> int:
        """Number of points of every tenant (exact)."""
        return int((await self._client.count(collection_name=self.name, exact=True)).count)

    async def count(self, scope: SearchScope) -> int:
        """Number of points in scope (exact)."""
        try:
            result = await self._client.count(
                self.name, count_filter=scope_filter(scope), exact=True
            )
        except Exception as exc:
            raise VectorStoreError(f"count in {self.name} failed: {exc}") from exc
        return int(result.count)
