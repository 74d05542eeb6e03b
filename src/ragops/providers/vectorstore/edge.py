"""`VectorStore` embedded in the process: Qdrant Edge (`qdrant-edge-py`), Qdrant's Rust engine.

The default store when `RAGOPS_QDRANT_URL` is unset. Same layout and semantics as the Qdrant
server path (`qdrant.py`), so pointing `RAGOPS_QDRANT_URL` at a server changes nothing else:
one shard per collection name (`<data_dir>/edge/<qdrant_collection>__<model>_<size>/`), a
named dense vector "dense" (cosine), a sparse vector "bm25" with the IDF modifier, a
multivector "sentences" (MaxSim) only in a shard created with `RAGOPS_SENTENCE_VECTORS` on
(a shard without it, as earlier releases create, opens as it was and `sentence_scores`
returns None; one with it cannot be opened by a release before it: the engine refuses a
layout with another set of vectors), likewise a dense vector "dense_second" only in a shard
created with `RAGOPS_SECOND_EMBEDDER` set (`holds_second`), HNSW
built per tenant (`m=0, payload_m=16`), payload indexes on `tenant_id` (keyword, tenant),
`collection`, `document_id` (keyword) and `version` (integer) — filters without an index
scan every point. BM25's IDF is computed over the searched tenant's collection only.

One process per store: the store takes its own lock (`edge_lock.py`) before it opens
anything, and a second ragops process gets a clear `VectorStoreError` naming the holder. The
engine's terms are in `edge_shard.py` (shard config, payload indexes) and `edge_requests.py`
(filters, queries, the upsert operation).

Threads. Every engine call runs in the store's own thread (`edge_thread.py`), never on the
event loop. The engine holds Python's GIL while it works, so a second thread would gain
nothing, and one thread keeps the engine's calls in order. Calls are short (a search takes
milliseconds at 100,000 points, docs/performance.md), except `optimize()`, which builds the
HNSW graphs.

Indexing. New points land in plain segments, searched exactly (fast up to ~100,000 points
per tenant). Once `RAGOPS_EDGE_INDEX_THRESHOLD` points were written since the last build,
the store runs `optimize()` in its thread after the write returns (`edge_index.py`). It holds
the GIL for nearly all of its run, so the process pauses while it builds (884 s for a million
points on two idle cores): set the threshold to 0 to never build in the server, or move to a
Qdrant server, which builds its indexes in the background.

No transaction spans several operations: atomic replacement of a document's chunks is the
database protocol's job (`documents.service`), as with a server.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import qdrant_edge as qe

from ragops.config.settings import Settings
from ragops.providers.vectorstore.base import (
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
from ragops.providers.vectorstore.edge_index import IndexBuilds
from ragops.providers.vectorstore.edge_lock import LOCK_NAME, StoreLock
from ragops.providers.vectorstore.edge_requests import (
    dense_request,
    document_filter,
    edge_filter,
    scan_request,
    sentence_request,
    sparse_request,
    stored_hit,
    upsert_operation,
)
from ragops.providers.vectorstore.edge_shard import (
    PAYLOAD_INDEXES,
    flush_close,
    has_sentences,
    open_shard,
    second_size,
    shard_config,
    stored_config,
)
from ragops.providers.vectorstore.edge_thread import EngineThread
from ragops.providers.vectorstore.qdrant_layout import collection_name, wanted_vectors

__all__ = [
    "LOCK_NAME",
    "PAYLOAD_INDEXES",
    "EdgeVectorStore",
    "StoreLock",
    "edge_filter",
    "shard_config",
    "stored_config",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")


class EdgeVectorStore:
    """Chunks of all tenants in one embedded Qdrant Edge shard (see the module docstring)."""

    def __init__(self, settings: Settings, *, model_id: str, dimension: int | None = None) -> None:
        self._root = settings.edge_path
        self._base = settings.qdrant_collection
        self._model_id = model_id
        self._dimension = dimension
        self._root.mkdir(parents=True, exist_ok=True)
        self._lock = StoreLock(self._root / LOCK_NAME)
        self._lock.acquire(self._root)
        self._thread = EngineThread()
        self._shard: qe.EdgeShard | None = None
        self._sentences = False  # the open shard has the sentence multivector
        self._new_with_sentences = settings.sentence_vectors
        self._second: int | None = None  # the open shard's second vector size, if it has one
        self._new_second = settings.second_dimension
        self._builds = IndexBuilds(
            settings.edge_index_threshold, self.optimize, name=lambda: self.name, logger=logger
        )
        self._closed = False

    @property
    def name(self) -> str:
        """The collection's name (known once the vector size is)."""
        if self._dimension is None:
            raise VectorStoreError("vector size unknown: call ensure_ready(dimension) first")
        return collection_name(self._base, self._model_id, self._dimension)

    @property
    def model_id(self) -> str:
        """The embedding model the collection is named after."""
        return self._model_id

    @property
    def dimension(self) -> int | None:
        """The dense vector size (None until known)."""
        return self._dimension

    @property
    def path(self) -> Path:
        """The shard's directory."""
        return self._root / self.name

    async def _call(self, func: Callable[[], T]) -> T:
        if self._closed:
            raise VectorStoreError("the embedded store is closed")
        return await self._thread.call(func)

    async def _engine(self, func: Callable[[], T], action: str) -> T:
        """`_call`; an engine failure becomes `VectorStoreError("<action> <name> failed: ...")`."""
        try:
            return await self._call(func)
        except VectorStoreError:
            raise
        except Exception as exc:
            raise VectorStoreError(f"{action} {self.name} failed: {exc}") from exc

    def _opened(self) -> qe.EdgeShard:
        if self._shard is None:
            raise VectorStoreError("the embedded store is not open: call ensure_ready first")
        return self._shard

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def holds_sentences(self) -> bool:
        """Whether points written now keep their sentence vectors: the open shard has the
        sentence multivector."""
        return self._sentences

    @property
    def holds_second(self) -> bool:
        """Whether the open shard has the second embedder's vector."""
        return self._second is not None

    async def ensure_ready(self, dimension: int) -> None:
        """Open (or create) the shard with its payload indexes; check the vector size."""
        if self._dimension is None:
            self._dimension = dimension
        elif dimension != self._dimension:
            raise VectorStoreError(
                f"store opened for {self._dimension}-dimensional vectors, asked for {dimension}"
            )
        if self._shard is None:
            self._shard = await self._call(self._open)

    def _open(self) -> qe.EdgeShard:
        path = self.path
        try:
            self._sentences = has_sentences(path, if_new=self._new_with_sentences)
            self._second = second_size(path, if_new=self._new_second)
            size = self._dimension or 0
            return open_shard(path, size, sentences=self._sentences, second=self._second)
        except Exception as exc:
            raise VectorStoreError(f"cannot open collection {self.name} at {path}: {exc}") from exc

    async def ping(self) -> None:
        """Raise `VectorStoreError` if the store cannot answer."""
        try:
            await self._call(lambda: self._opened().info())
        except VectorStoreError:
            raise
        except Exception as exc:
            raise VectorStoreError(f"embedded store failed: {exc}") from exc

    async def optimize(self) -> bool:
        """Build HNSW graphs and merge segments now (blocks the pool while it runs)."""
        return await self._call(self._optimize)

    def _optimize(self) -> bool:
        shard = self._opened()
        started = time.perf_counter()
        points = shard.info().points_count
        logger.info("building the vector index of %s (%d points)", self.name, points)
        try:
            changed = shard.optimize()
            shard.flush()
        except Exception as exc:
            raise VectorStoreError(f"index build of {self.name} failed: {exc}") from exc
        self._builds.written = 0
        logger.info("vector index of %s built in %.1f s", self.name, time.perf_counter() - started)
        return changed

    async def aclose(self) -> None:
        """Wait for an index build, flush and close the shard, release the lock."""
        if self._closed:
            return
        await self._builds.wait()
        shard, self._shard = self._shard, None
        try:
            if shard is not None:
                await self._thread.call(partial(flush_close, shard))
        finally:
            self._closed = True
            self._thread.shutdown()
            self._lock.release()

    async def copy_files(self, dest: Path, *, while_held: Callable[[], Awaitable[None]]) -> int:
        """Copy the shard's files to `dest` consistently; returns its point count.

        A job in the store's own thread holds it (every engine call waits behind it, an index
        build included), flushes the shard, then waits for `while_held` (run on the event loop,
        e.g. taking the database's snapshot, so both stores are cut at the same moment) before
        it counts the points and copies the files. Nothing writes meanwhile."""
        if self._closed:
            raise VectorStoreError("the embedded store is closed")

        def copy() -> int:
            try:
                shard = self._opened()
                shard.flush()
                points = int(shard.count(qe.CountRequest(exact=True)))
                shutil.copytree(self.path, dest)
                return points
            except Exception as exc:
                raise VectorStoreError(f"copying {self.name} failed: {exc}") from exc

        return await self._thread.run_held(copy, while_held)

    # --- writes --------------------------------------------------------------------------

    async def upsert(self, points: Sequence[ChunkPoint]) -> None:
        """Insert or replace points; returns once they are searchable."""
        if not points:
            return
        for point in points:
            check_point(point, self._dimension)
        operation = partial(
            upsert_operation, points, sentences=self._sentences, second=self.holds_second
        )
        await self._engine(lambda: self._opened().update(operation()), "upsert into")
        self._builds.wrote(len(points))

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
        flt = document_filter(
            tenant_id, document_id, version=version, except_version=except_version
        )
        operation = qe.UpdateOperation.delete_points_by_filter(flt)
        await self._engine(lambda: self._opened().update(operation), "delete from")

    async def delete_points(self, point_ids: Sequence[str]) -> None:
        """Delete exactly these points (e.g. what one failed ingest attempt wrote)."""
        if point_ids:
            operation = qe.UpdateOperation.delete_points(list(point_ids))
            await self._engine(lambda: self._opened().update(operation), "deleting points of")

    # --- reads ---------------------------------------------------------------------------

    async def _query(self, request: qe.QueryRequest, what: str) -> list[qe.ScoredPoint]:
        return await self._engine(lambda: self._opened().query(request), f"{what} in")

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
        if second and not self.holds_second:
            raise VectorStoreError(f"collection {self.name} has no second embedder's vector")
        request = dense_request(vector, scope, limit, with_payload=with_payload, second=second)
        found = await self._query(request, "dense search")
        return [stored_hit(p, float(p.score)) for p in found]

    async def search_sparse(
        self,
        vector: SparseVector,
        scope: SearchScope,
        limit: int,
        with_dense: bool = True,
        with_payload: bool = True,
    ) -> list[StoredHit]:
        """Best points by BM25 (sparse dot product with IDF over the tenant's collection),
        best first; with their dense vectors when `with_dense`."""
        if not vector.indices:
            return []
        request = sparse_request(
            vector, scope, limit, with_dense=with_dense, with_payload=with_payload
        )
        found = await self._query(request, "sparse search")
        return [stored_hit(p, float(p.score), dense=with_dense) for p in found]

    async def sentence_scores(
        self, vector: npt.NDArray[np.float32], point_ids: Sequence[str], scope: SearchScope
    ) -> dict[str, float] | None:
        """Each point's best sentence cosine (a MaxSim query restricted to the ids, exact);
        None when the shard predates the sentence multivector."""
        if not self._sentences:
            return None
        if not point_ids:
            return {}
        found = await self._query(sentence_request(vector, point_ids, scope), "sentence scores")
        return {str(p.id): float(p.score) for p in found}

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
        ids: list[int | uuid.UUID | str] = list(point_ids)
        vector = wanted_vectors(dense=with_dense, second=with_second and self.holds_second)
        records = await self._engine(
            lambda: self._opened().retrieve(ids, True, vector), "fetching points of"
        )
        hits = [stored_hit(r, 0.0, dense=with_dense, second=with_second) for r in records]
        return [hit for hit in hits if in_scope(hit, scope)]

    async def total_points(self) -> int:
        """Number of points of every tenant (exact)."""
        request = qe.CountRequest(exact=True)
        return await self._call(lambda: int(self._opened().count(request)))

    async def count(self, scope: SearchScope) -> int:
        """Number of points in scope (exact)."""
        request = qe.CountRequest(exact=True, filter=edge_filter(scope))
        return await self._engine(lambda: self._opened().count(request), "count in")

    async def scan(
        self, tenant_id: str | None = None, batch: int = 1000
    ) -> AsyncIterator[list[PointRef]]:
        """Every point (of one tenant, or of all), `batch` at a time, without vectors."""
        offset: Any = None
        while True:
            request = scan_request(tenant_id, offset, batch)
            records, offset = await self._engine(partial(self._scroll, request), "scan of")
            if records:
                yield [point_ref(r.id, r.payload) for r in records]
            if offset is None or not records:
                return

    def _scroll(self, request: qe.ScrollRequest) -> tuple[list[qe.Record], Any]:
        return self._opened().scroll(request)
