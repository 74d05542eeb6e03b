"""`VectorStore` embedded in the process: Qdrant Edge (`qdrant-edge-py`), Qdrant's Rust engine.

The default store when `RAGOPS_QDRANT_URL` is unset. Same layout and semantics as the Qdrant
server path (`qdrant.py`), so pointing `RAGOPS_QDRANT_URL` at a server changes nothing else:
one shard per collection name (`<data_dir>/edge/<qdrant_collection>__<model>_<size>/`), a
named dense vector "dense" (cosine) and a sparse vector "bm25" with the IDF modifier, HNSW
built per tenant (`m=0, payload_m=16`), payload indexes on `tenant_id` (keyword, tenant),
`collection`, `document_id` (keyword) and `version` (integer) — filters without an index
scan every point. BM25's IDF is computed over the searched tenant's collection only.

One process per store. The engine opens its files for one process; a second open fails and
can then break the first process's next flush. So the store takes its own lock,
`<data_dir>/edge/ragops.lock` (`flock`, holding the owner's pid), before it opens anything,
and a second ragops process gets a clear `VectorStoreError` naming the holder.

Threads. Every engine call runs in the store's own one-thread pool, never on the event loop.
The engine holds Python's GIL while it works, so a second thread would gain nothing, and one
thread keeps the engine's calls in order. Calls are short (a search takes milliseconds at
100,000 points, docs/performance.md), except `optimize()`, which builds the HNSW graphs.

Indexing. New points land in plain segments, searched exactly (fast up to ~100,000 points
per tenant). Once `RAGOPS_EDGE_INDEX_THRESHOLD` points were written since the last build,
the store runs `optimize()` in its pool after the write returns. It holds the GIL for nearly
all of its run, so the process pauses while it builds (884 s for a million points on two idle
cores): set the threshold to 0 to never build in the server, or move to a Qdrant server,
which builds its indexes in the background.

No transaction spans several operations: atomic replacement of a document's chunks is the
database protocol's job (`documents.service`), as with a server.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import qdrant_edge as qe

from ragops.config.settings import Settings
from ragops.providers.vectorstore.base import (
    SCAN_FIELDS,
    ChunkPoint,
    PointRef,
    SearchScope,
    SparseVector,
    StoredHit,
    VectorStoreError,
    in_scope,
    point_ref,
)
from ragops.providers.vectorstore.qdrant import DENSE, SPARSE, collection_name

logger = logging.getLogger(__name__)
T = TypeVar("T")
LOCK_NAME = "ragops.lock"
CONFIG_FILE = "edge_config.json"


def edge_filter(scope: SearchScope) -> qe.Filter:
    """The filter every search in `scope` carries: tenant, then collection and documents."""
    must: list[Any] = [qe.FieldCondition(key="tenant_id", match=qe.MatchValue(scope.tenant_id))]
    if scope.collection is not None:
        must.append(qe.FieldCondition(key="collection", match=qe.MatchValue(scope.collection)))
    if scope.document_ids is not None:
        must.append(
            qe.FieldCondition(key="document_id", match=qe.MatchAny(list(scope.document_ids)))
        )
    return qe.Filter(must=must)


def shard_config(dimension: int) -> qe.EdgeConfig:
    """The collection layout of `qdrant.py`, in the engine's terms."""
    return qe.EdgeConfig(
        vectors={DENSE: qe.EdgeVectorParams(size=dimension, distance=qe.Distance.Cosine)},
        sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        # Searches are always per tenant: build HNSW graphs per tenant, not globally.
        hnsw_config=qe.HnswIndexConfig(
            m=0, ef_construct=100, full_scan_threshold=10_000, payload_m=16
        ),
    )


PAYLOAD_INDEXES: dict[str, Any] = {
    "tenant_id": qe.KeywordIndexParams(is_tenant=True),
    "collection": qe.PayloadSchemaType.Keyword,
    "document_id": qe.PayloadSchemaType.Keyword,
    "version": qe.PayloadSchemaType.Integer,
}


class StoreLock:
    """An exclusive `flock` on `path` holding this process's pid, taken without waiting."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, store: Path) -> None:
        """Take the lock or raise `VectorStoreError` naming the process that holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise VectorStoreError(f"cannot lock the embedded store at {store}: {exc}") from exc
            raise VectorStoreError(
                f"the embedded store at {store} is in use by another ragops process "
                f"(pid {holder}); stop it, or use the server's API (--url), or point "
                "RAGOPS_QDRANT_URL at a Qdrant server"
            ) from exc
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (the file stays; its content is stale until the next holder)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class EdgeVectorStore:
    """Chunks of all tenants in one embedded Qdrant Edge shard (see the module docstring)."""

    def __init__(self, settings: Settings, *, model_id: str, dimension: int | None = None) -> None:
        self._root = settings.edge_path
        self._base = settings.qdrant_collection
        self._model_id = model_id
        self._dimension = dimension
        self._index_threshold = settings.edge_index_threshold
        self._root.mkdir(parents=True, exist_ok=True)
        self._lock = StoreLock(self._root / LOCK_NAME)
        self._lock.acquire(self._root)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragops-edge")
        self._shard: qe.EdgeShard | None = None
        self._written = 0  # points written since the last index build
        self._building: asyncio.Future[None] | None = None
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
        return await asyncio.get_running_loop().run_in_executor(self._pool, func)

    def _opened(self) -> qe.EdgeShard:
        if self._shard is None:
            raise VectorStoreError("the embedded store is not open: call ensure_ready first")
        return self._shard

    # --- lifecycle -----------------------------------------------------------------------

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
        path, config = self.path, shard_config(self._dimension or 0)
        try:
            if (path / CONFIG_FILE).exists():
                shard = qe.EdgeShard.load(str(path), config)
            else:
                shard = qe.EdgeShard.create(str(path), config)
            indexed = set(shard.info().payload_schema)
            for field, schema in PAYLOAD_INDEXES.items():
                if field not in indexed:
                    shard.update(qe.UpdateOperation.create_field_index(field, schema))
        except Exception as exc:
            raise VectorStoreError(f"cannot open collection {self.name} at {path}: {exc}") from exc
        return shard

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
        self._written = 0
        logger.info("vector index of %s built in %.1f s", self.name, time.perf_counter() - started)
        return changed

    def _maybe_build(self) -> None:
        """Start an index build in the pool once enough points were written."""
        threshold = self._index_threshold
        if threshold <= 0 or self._written < threshold or self._building is not None:
            return
        self._building = asyncio.ensure_future(self._build_in_background())

    async def _build_in_background(self) -> None:
        try:
            await self.optimize()
        except Exception:
            logger.warning("background index build of %s failed", self.name, exc_info=True)
        finally:
            self._building = None

    async def aclose(self) -> None:
        """Wait for an index build, flush and close the shard, release the lock."""
        if self._closed:
            return
        if self._building is not None:
            await asyncio.shield(self._building)
        shard, self._shard = self._shard, None
        try:
            if shard is not None:
                await asyncio.get_running_loop().run_in_executor(self._pool, _flush_close, shard)
        finally:
            self._closed = True
            self._pool.shutdown(wait=True)
            self._lock.release()

    async def copy_files(self, dest: Path, *, while_held: Callable[[], Awaitable[None]]) -> int:
        """Copy the shard's files to `dest` consistently; returns its point count.

        A job in the store's own thread holds it (every engine call waits behind it, an index
        build included), flushes the shard, then waits for `while_held` (run on the event loop,
        e.g. taking the database's snapshot, so both stores are cut at the same moment) before
        it counts the points and copies the files. Nothing writes meanwhile."""
        if self._closed:
            raise VectorStoreError("the embedded store is closed")
        loop = asyncio.get_running_loop()
        held: asyncio.Future[None] = loop.create_future()
        go = threading.Event()
        proceed = False

        def signal() -> None:
            if not held.done():
                held.set_result(None)

        def job() -> int:
            loop.call_soon_threadsafe(signal)
            go.wait()
            if not proceed:
                return 0
            shard = self._opened()
            shard.flush()
            points = int(shard.count(qe.CountRequest(exact=True)))
            shutil.copytree(self.path, dest)
            return points

        done = loop.run_in_executor(self._pool, job)
        try:
            await held
            await while_held()
            proceed = True
        finally:
            go.set()
        try:
            return await done
        except Exception as exc:
            raise VectorStoreError(f"copying {self.name} failed: {exc}") from exc

    # --- writes --------------------------------------------------------------------------

    async def upsert(self, points: Sequence[ChunkPoint]) -> None:
        """Insert or replace points; returns once they are searchable."""
        if not points:
            return
        for point in points:
            if "tenant_id" not in point.payload:
                raise VectorStoreError(f"point {point.id} has no tenant_id in its payload")
            if point.dense.shape != (self._dimension,):
                raise VectorStoreError(
                    f"point {point.id} has a dense vector of shape {point.dense.shape}"
                )
        try:
            await self._call(lambda: self._opened().update(_upsert_operation(points)))
        except VectorStoreError:
            raise
        except Exception as exc:
            raise VectorStoreError(f"upsert into {self.name} failed: {exc}") from exc
        self._written += len(points)
        self._maybe_build()

    async def _update(self, operation: qe.UpdateOperation, what: str) -> None:
        try:
            await self._call(lambda: self._opened().update(operation))
        except VectorStoreError:
            raise
        except Exception as exc:
            raise VectorStoreError(f"{what} {self.name} failed: {exc}") from exc

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
        must: list[Any] = [
            qe.FieldCondition(key="tenant_id", match=qe.MatchValue(tenant_id)),
            qe.FieldCondition(key="document_id", match=qe.MatchValue(document_id)),
        ]
        must_not: list[Any] = []
        if version is not None:
            must.append(qe.FieldCondition(key="version", match=qe.MatchValue(version)))
        if except_version is not None:
            must_not.append(qe.FieldCondition(key="version", match=qe.MatchValue(except_version)))
        flt = qe.Filter(must=must, must_not=must_not or None)
        await self._update(qe.UpdateOperation.delete_points_by_filter(flt), "delete from")

    async def delete_points(self, point_ids: Sequence[str]) -> None:
        """Delete exactly these points (e.g. what one failed ingest attempt wrote)."""
        if point_ids:
            operation = qe.UpdateOperation.delete_points(list(point_ids))
            await self._update(operation, "deleting points of")

    # --- reads ---------------------------------------------------------------------------

    async def _query(self, request: qe.QueryRequest, what: str) -> list[qe.ScoredPoint]:
        try:
            return await self._call(lambda: self._opened().query(request))
        except VectorStoreError:
            raise
        except Exception as exc:
            raise VectorStoreError(f"{what} in {self.name} failed: {exc}") from exc

    async def search_dense(
        self,
        vector: npt.NDArray[np.float32],
        scope: SearchScope,
        limit: int,
        with_payload: bool = True,
    ) -> list[StoredHit]:
        """Nearest points by cosine similarity (the hit's score), best first."""
        query = qe.Query.Nearest(np.asarray(vector, dtype=np.float32).tolist(), using=DENSE)
        request = qe.QueryRequest(
            limit=limit, query=query, filter=edge_filter(scope), with_payload=with_payload
        )
        found = await self._query(request, "dense search")
        return [
            StoredHit(id=str(p.id), score=float(p.score), payload=p.payload or {}) for p in found
        ]

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
        corpus = SearchScope(tenant_id=scope.tenant_id, collection=scope.collection)
        request = qe.QueryRequest(
            limit=limit,
            query=qe.Query.Nearest(qe.SparseVector(vector.indices, vector.values), using=SPARSE),
            filter=edge_filter(scope),
            params=qe.SearchParams(idf=qe.IdfParams(corpus=edge_filter(corpus))),
            with_payload=with_payload,
            with_vector=[DENSE] if with_dense else False,
        )
        found = await self._query(request, "sparse search")
        return [
            StoredHit(
                id=str(p.id),
                score=float(p.score),
                payload=p.payload or {},
                dense=_dense_of(p.vector) if with_dense else None,
            )
            for p in found
        ]

    async def fetch(
        self, point_ids: Sequence[str], scope: SearchScope, *, with_dense: bool = False
    ) -> list[StoredHit]:
        """Payloads (and dense vectors) of these points; gone or out-of-scope ones left out."""
        if not point_ids:
            return []
        ids: list[int | uuid.UUID | str] = list(point_ids)
        vector = [DENSE] if with_dense else False
        try:
            records = await self._call(lambda: self._opened().retrieve(ids, True, vector))
        except VectorStoreError:
            raise
        except Exception as exc:
            raise VectorStoreError(f"fetching points of {self.name} failed: {exc}") from exc
        hits = [
            StoredHit(
                id=str(r.id),
                score=0.0,
                payload=r.payload or {},
                dense=_dense_of(r.vector) if with_dense else None,
            )
            for r in records
        ]
        return [hit for hit in hits if in_scope(hit, scope)]

    async def total_points(self) -> int:
        """Number of points of every tenant (exact)."""
        request = qe.CountRequest(exact=True)
        return await self._call(lambda: int(self._opened().count(request)))

    async def count(self, scope: SearchScope) -> int:
        """Number of points in scope (exact)."""
        request = qe.CountRequest(exact=True, filter=edge_filter(scope))
        try:
            return await self._call(lambda: self._opened().count(request))
        except VectorStoreError:
            raise
        except Exception as exc:
            raise VectorStoreError(f"count in {self.name} failed: {exc}") from exc

    async def scan(
        self, tenant_id: str | None = None, batch: int = 1000
    ) -> AsyncIterator[list[PointRef]]:
        """Every point (of one tenant, or of all), `batch` at a time, without vectors."""
        flt = edge_filter(SearchScope(tenant_id=tenant_id)) if tenant_id is not None else None
        offset: Any = None
        while True:
            request = qe.ScrollRequest(
                offset=offset, limit=batch, filter=flt, with_payload=SCAN_FIELDS, with_vector=False
            )
            try:
                records, offset = await self._call(partial(self._scroll, request))
            except VectorStoreError:
                raise
            except Exception as exc:
                raise VectorStoreError(f"scan of {self.name} failed: {exc}") from exc
            if records:
                yield [point_ref(r.id, r.payload) for r in records]
            if offset is None or not records:
                return

    def _scroll(self, request: qe.ScrollRequest) -> tuple[list[qe.Record], Any]:
        return self._opened().scroll(request)


def _upsert_operation(points: Sequence[ChunkPoint]) -> qe.UpdateOperation:
    """The engine's upsert of `points` (built in the store's thread: it is CPU work)."""
    structs = []
    for point in points:
        vector: dict[str, Any] = {DENSE: point.dense.astype(np.float32).tolist()}
        if point.sparse.indices:  # as on a server, which rejects empty sparse vectors
            vector[SPARSE] = qe.SparseVector(point.sparse.indices, point.sparse.values)
        structs.append(qe.Point(point.id, vector, point.payload))
    return qe.UpdateOperation.upsert_points(structs)


def _dense_of(vector: Any) -> npt.NDArray[np.float32] | None:
    if isinstance(vector, dict):
        vector = vector.get(DENSE)
    return None if vector is None else np.asarray(vector, dtype=np.float32)


def _flush_close(shard: qe.EdgeShard) -> None:
    try:
        shard.flush()
    finally:
        shard.close()
