"""`VectorStore` on PostgreSQL with pgvector: the store several ragops instances share.

Chosen by `RAGOPS_VECTOR_STORE=pgvector` (or by setting `RAGOPS_PGVECTOR_URL`). The URL
defaults to `RAGOPS_DATABASE_URL`, so one PostgreSQL database (Neon, or any server with the
`vector` extension) holds the documents and their vectors: one thing to back up and restore.

Layout. Per embedding model and vector size, three tables named like the Qdrant collection
(`ragops_chunks__all-minilm-l6-v2-int8_384`): switching models starts empty tables and never
mixes vectors of two models. They are created by `ensure_ready`, not by a migration, because
their names and the vector size are only known once the embedder is, and the store may live
in another database than the application's tables; creation runs under an advisory lock so
instances starting together do not race (`pgvector_pool.py`; the SQL is in `pgvector_sql.py`).
- `<name>`: one row per chunk: `id` (uuid), `tenant_id`, `collection`, `document_id`,
  `version`, `dense vector(<size>)` with an HNSW cosine index, and the payload (jsonb).
  B-tree indexes on `(tenant_id, collection, document_id, version)` and
  `(tenant_id, document_id, version)` serve every scope filter and delete. A table created
  with `RAGOPS_SECOND_EMBEDDER` set also has `dense_second vector(<size>)` (nullable, HNSW
  cosine index), the second embedder's vector (`holds_second`); an older table never gains it.
- `<name>_sentences`: with `RAGOPS_SENTENCE_VECTORS` on at ingestion, one row per unit of a
  chunk (its title and sentences, `retrieval.units`): `point_id`, `tenant_id`, `collection`,
  `unit` (its place in the chunk), `dense vector(<size>)`; the primary key `(point_id, unit)`
  serves the lookup of `sentence_scores` (best cosine per point id); written in the upsert's
  transaction and deleted with their chunk (`ON DELETE CASCADE`). No HNSW index: it is only
  read by point id.
- `<name>_terms`: the BM25 document vectors as postings, one row per (chunk, term) with the
  term's saturated frequency; deleted with their chunk (`ON DELETE CASCADE`); indexed on
  `(tenant_id, term)` with the other columns included, so a query reads only the postings
  of its own terms in its own tenant.

BM25. pgvector's `sparsevec` needs pgvector 0.7 (the bundled test server has 0.6.2) and has
no way to count a term's documents, so the lexical side is the product's own BM25 in SQL:
one statement counts each query term's documents in the tenant's collection (the corpus that
Qdrant's `IdfParams` uses), computes Qdrant's IDF `ln((N - n + 0.5) / (n + 0.5) + 1)`, and
sums `query weight * idf * document weight` over the postings. Scores therefore match the
Qdrant backends, and hybrid fusion in the Retriever is unchanged. PostgreSQL full-text search
was measured as the alternative (docs/performance.md).

Dense search is `ORDER BY dense <=> query` within the scope's filter. PostgreSQL picks the HNSW
index or, for a small tenant, its b-tree and an exact sort. pgvector before 0.8 filters HNSW
results after the index scan (`RAGOPS_PGVECTOR_EF_SEARCH` candidates), so a tenant holding a
share of a large table may get fewer than `limit` hits from the index: the store then runs the
search again exactly, through the b-tree (correct, slower for a large tenant). On pgvector
0.8+ the store turns on iterative index scans, which keep scanning until enough rows pass the
filter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from functools import partial
from typing import Any

import asyncpg
import numpy as np
import numpy.typing as npt

from ragops.config.settings import Settings
from ragops.providers.vectorstore.base import (
    ChunkPoint,
    PointRef,
    SearchScope,
    SparseVector,
    StoredHit,
    VectorStoreError,
    point_ref,
)
from ragops.providers.vectorstore.pgvector_pool import open_pool
from ragops.providers.vectorstore.pgvector_sql import (
    CHUNK_COLUMNS,
    SECOND_COLUMN,
    SENTENCE_COLUMNS,
    TERM_COLUMNS,
    asyncpg_dsn,
    bm25_query,
    count_query,
    dense_query,
    fetch_query,
    fetched_hit,
    point_records,
    sentence_query,
    sentence_records,
    table_name,
)
from ragops.providers.vectorstore.qdrant_layout import collection_name


class PgVectorStore:
    """Chunks of all tenants in three PostgreSQL tables (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        *,
        model_id: str,
        dimension: int | None = None,
        url: str | None = None,
    ) -> None:
        target = url or settings.resolved_pgvector_url
        if target is None:
            raise VectorStoreError(
                "the pgvector store needs RAGOPS_PGVECTOR_URL or a PostgreSQL RAGOPS_DATABASE_URL"
            )
        self._dsn = asyncpg_dsn(target)
        self._base = settings.qdrant_collection
        self._model_id = model_id
        self._dimension = dimension
        self._ef_search = settings.pgvector_ef_search
        self._pool_max = settings.db_pool_max
        self._timeout = settings.db_pool_timeout
        self._pool: asyncpg.Pool | None = None
        self._closed = False
        self._new_second = settings.second_dimension
        self._second: int | None = None  # the table's second vector size, if it has one

    @property
    def name(self) -> str:
        """The collection's name (known once the vector size is)."""
        if self._dimension is None:
            raise VectorStoreError("vector size unknown: call ensure_ready(dimension) first")
        return collection_name(self._base, self._model_id, self._dimension)

    @property
    def dsn(self) -> str:
        """The libpq URL of the store's database (backups compare it with the database's)."""
        return self._dsn

    @property
    def model_id(self) -> str:
        """The embedding model whose vectors the store holds."""
        return self._model_id

    @property
    def dimension(self) -> int | None:
        """The vector size (None until `ensure_ready`)."""
        return self._dimension

    @property
    def table(self) -> str:
        """The chunk table's name; the postings table adds `_terms`."""
        return table_name(self.name)

    def _opened(self) -> asyncpg.Pool:
        if self._closed:
            raise VectorStoreError("the pgvector store is closed")
        if self._pool is None:
            raise VectorStoreError("the pgvector store is not open: call ensure_ready first")
        return self._pool

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def holds_sentences(self) -> bool:
        """Always: sentence vectors go to the side table `<table>_sentences`."""
        return True

    @property
    def holds_second(self) -> bool:
        """Whether the chunk table has the second embedder's column (known once ready)."""
        return self._second is not None

    async def ensure_ready(self, dimension: int) -> None:
        """Create the extension, tables and indexes if missing; check the vector size."""
        if self._dimension is None:
            self._dimension = dimension
        elif dimension != self._dimension:
            raise VectorStoreError(
                f"store opened for {self._dimension}-dimensional vectors, asked for {dimension}"
            )
        if self._closed:
            raise VectorStoreError("the pgvector store is closed")
        if self._pool is not None:
            return
        try:
            self._pool, self._second = await open_pool(
                self._dsn,
                self.table,
                dimension,
                ef_search=self._ef_search,
                max_size=self._pool_max,
                timeout=self._timeout,
                second=self._new_second,
            )
        except VectorStoreError:
            raise
        except Exception as exc:
            raise VectorStoreError(f"cannot prepare pgvector table {self.table}: {exc}") from exc

    async def ping(self) -> None:
        """Raise `VectorStoreError` if the database cannot answer."""
        try:
            await self._opened().fetchval("SELECT 1", timeout=self._timeout)
        except VectorStoreError:
            raise
        except Exception as exc:
            raise VectorStoreError(f"pgvector database unreachable: {exc}") from exc

    async def aclose(self) -> None:
        """Close the connection pool (idempotent)."""
        if self._closed:
            return
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    # --- writes --------------------------------------------------------------------------

    async def upsert(self, points: Sequence[ChunkPoint]) -> None:
        """Insert or replace points in one transaction; searchable once it returns."""
        if not points:
            return
        second = self.holds_second
        rows, postings = point_records(points, self._dimension, second=second)
        columns = [*CHUNK_COLUMNS, SECOND_COLUMN] if second else CHUNK_COLUMNS
        sentences = sentence_records(points, self._dimension)
        pool = self._opened()
        try:
            async with pool.acquire(timeout=self._timeout) as conn, conn.transaction():
                await conn.execute(
                    f'DELETE FROM "{self.table}" WHERE id = ANY($1::uuid[])',
                    [p.id for p in points],
                )
                await conn.copy_records_to_table(self.table, records=rows, columns=columns)
                if postings:
                    await conn.copy_records_to_table(
                        f"{self.table}_terms", records=postings, columns=TERM_COLUMNS
                    )
                if sentences:
                    await conn.copy_records_to_table(
                        f"{self.table}_sentences", records=sentences, columns=SENTENCE_COLUMNS
                    )
        except Exception as exc:
            raise VectorStoreError(f"upsert into {self.table} failed: {exc}") from exc

    async def _execute(self, sql: str, *args: Any, what: str) -> None:
        try:
            await self._opened().execute(sql, *args, timeout=self._timeout)
        except VectorStoreError:
            raise
        except Exception as exc:
            raise VectorStoreError(f"{what} {self.table} failed: {exc}") from exc

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
        sql = f'DELETE FROM "{self.table}" WHERE tenant_id = $1 AND document_id = $2'
        args: list[Any] = [tenant_id, document_id]
        if version is not None:
            sql += " AND version = $3"
            args.append(version)
        elif except_version is not None:
            sql += " AND version IS DISTINCT FROM $3"
            args.append(except_version)
        await self._execute(sql, *args, what="delete from")

    async def delete_points(self, point_ids: Sequence[str]) -> None:
        """Delete exactly these points (e.g. what one failed ingest attempt wrote)."""
        if point_ids:
            sql = f'DELETE FROM "{self.table}" WHERE id = ANY($1::uuid[])'
            await self._execute(sql, list(point_ids), what="deleting points of")

    # --- reads ---------------------------------------------------------------------------

    async def _fetch(self, sql: str, *args: Any, what: str) -> list[asyncpg.Record]:
        try:
            return list(await self._opened().fetch(sql, *args, timeout=self._timeout))
        except VectorStoreError:
            raise
        except Exception as exc:
            raise VectorStoreError(f"{what} in {self.table} failed: {exc}") from exc

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
            raise VectorStoreError(f"table {self.table} has no second embedder's vector")
        query = np.asarray(vector, dtype=np.float32)
        column = SECOND_COLUMN if second else "dense"
        sql_of = partial(dense_query, self.table, scope, limit, payload=with_payload, column=column)
        sql, values = sql_of()
        rows = await self._fetch(sql, query, *values, what="dense search")
        if len(rows) < limit:  # the HNSW scan's candidates were mostly other scopes' rows
            sql, values = sql_of(exact=True)
            rows = await self._fetch(sql, query, *values, what="dense search")
        return [StoredHit(str(r["id"]), float(r["score"]), r.get("payload") or {}) for r in rows]

    async def search_sparse(
        self,
        vector: SparseVector,
        scope: SearchScope,
        limit: int,
        with_dense: bool = True,
        with_payload: bool = True,
    ) -> list[StoredHit]:
        """Best points by BM25 (IDF over the tenant's collection), best first; with their
        dense vectors when `with_dense`."""
        if not vector.indices:
            return []
        sql, values = bm25_query(self.table, vector, scope, limit, with_dense, with_payload)
        rows = await self._fetch(sql, *values, what="sparse search")
        return [
            StoredHit(
                id=str(r["id"]),
                score=float(r["score"]),
                payload=r["payload"] if with_payload else {},
                dense=r["dense"] if with_dense else None,
            )
            for r in rows
        ]

    async def sentence_scores(
        self, vector: npt.NDArray[np.float32], point_ids: Sequence[str], scope: SearchScope
    ) -> dict[str, float]:
        """Each point's best sentence cosine (one query over the sentence table, by point
        id); points ingested without sentence vectors are absent."""
        if not point_ids:
            return {}
        sql, values = sentence_query(self.table, scope)
        query = np.asarray(vector, dtype=np.float32)
        rows = await self._fetch(sql, query, list(point_ids), *values, what="sentence scores")
        return {str(r["id"]): float(r["score"]) for r in rows}

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
        second = with_second and self.holds_second
        sql, values = fetch_query(self.table, scope, dense=with_dense, second=second)
        rows = await self._fetch(sql, list(point_ids), *values, what="fetch")
        return [fetched_hit(r, dense=with_dense, second=second) for r in rows]

    async def total_points(self) -> int:
        """Number of points of every tenant (exact)."""
        rows = await self._fetch(f'SELECT count(*) AS n FROM "{self.table}"', what="count")
        return int(rows[0]["n"])

    async def scan(
        self, tenant_id: str | None = None, batch: int = 1000
    ) -> AsyncIterator[list[PointRef]]:
        """Every point (of one tenant, or of all), `batch` at a time (keyset pages by id)."""
        after = "00000000-0000-0000-0000-000000000000"
        while True:
            rows = await self._fetch(
                "SELECT c.id, c.tenant_id, c.collection, c.document_id, "
                f"c.payload->'written_at' AS written_at FROM \"{self.table}\" c "
                "WHERE ($1::text IS NULL OR c.tenant_id = $1) AND c.id > $2::uuid "
                f"ORDER BY c.id LIMIT {int(batch)}",
                tenant_id,
                after,
                what="scan",
            )
            if not rows:
                return
            yield [
                point_ref(
                    r["id"],
                    {
                        "tenant_id": r["tenant_id"],
                        "collection": r["collection"],
                        "document_id": r["document_id"],
                        "written_at": r["written_at"],
                    },
                )
                for r in rows
            ]
            if len(rows) < batch:
                return
            after = str(rows[-1]["id"])

    async def count(self, scope: SearchScope) -> int:
        """Number of points in scope (exact)."""
        sql, values = count_query(self.table, scope)
        rows = await self._fetch(sql, *values, what="count")
        return int(rows[0]["n"])
