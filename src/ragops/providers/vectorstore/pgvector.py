"""`VectorStore` on PostgreSQL with pgvector: the store several ragops instances share.

Chosen by `RAGOPS_VECTOR_STORE=pgvector` (or by setting `RAGOPS_PGVECTOR_URL`). The URL
defaults to `RAGOPS_DATABASE_URL`, so one PostgreSQL database (Neon, or any server with the
`vector` extension) holds the documents and their vectors: one thing to back up and restore.

Layout. Per embedding model and vector size, two tables named like the Qdrant collection
(`ragops_chunks__all-minilm-l6-v2-int8_384`): switching models starts empty tables and never
mixes vectors of two models. They are created by `ensure_ready`, not by a migration, because
their names and the vector size are only known once the embedder is, and the store may live
in another database than the application's tables; creation runs under an advisory lock so
instances starting together do not race.
- `<name>`: one row per chunk: `id` (uuid), `tenant_id`, `collection`, `document_id`,
  `version`, `dense vector(<size>)` with an HNSW cosine index, and the payload (jsonb).
  B-tree indexes on `(tenant_id, collection, document_id, version)` and
  `(tenant_id, document_id, version)` serve every scope filter and delete.
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
results after the index scan, so a tenant holding a small share of a large table may get
fewer than `limit` hits from the index: `RAGOPS_PGVECTOR_EF_SEARCH` widens that scan, and on
pgvector 0.8+ the store turns on iterative index scans, which keep scanning until enough rows
pass the filter.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from collections.abc import Sequence
from typing import Any

import asyncpg
import numpy as np
import numpy.typing as npt

from ragops.config.settings import Settings
from ragops.providers.vectorstore.base import (
    ChunkPoint,
    SearchScope,
    SparseVector,
    StoredHit,
    VectorStoreError,
)
from ragops.providers.vectorstore.qdrant import collection_name

MAX_IDENTIFIER = 50  # PostgreSQL truncates names at 63 bytes; leave room for suffixes
BM25_SQL = """
WITH q(term, weight) AS (SELECT * FROM unnest($2::int4[], $3::float4[])),
corpus AS (SELECT count(*)::float8 AS n FROM {chunks} c WHERE {corpus_where}),
posting AS (
    SELECT t.point_id, t.term, t.weight, t.document_id FROM {terms} t
    WHERE t.tenant_id = $1 AND t.term = ANY($2::int4[]) {terms_and}
),
idf AS (
    SELECT p.term, q.weight * ln((corpus.n - count(*) + 0.5) / (count(*) + 0.5) + 1) AS w
    FROM posting p JOIN q USING (term) CROSS JOIN corpus GROUP BY p.term, q.weight, corpus.n
),
top AS (
    SELECT p.point_id, sum(p.weight * idf.w) AS score FROM posting p JOIN idf USING (term)
    {docs_where} GROUP BY p.point_id ORDER BY score DESC, p.point_id LIMIT {limit}
)
SELECT c.id, top.score, c.payload{dense} FROM top JOIN {chunks} c ON c.id = top.point_id
ORDER BY top.score DESC, c.id
"""


def table_name(name: str) -> str:
    """`name` if short enough for PostgreSQL, else its start and a hash of the whole."""
    name = re.sub(r"[^a-z0-9_]+", "_", name.lower())
    if len(name) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]  # noqa: S324 - a name, not security
    return f"{name[: MAX_IDENTIFIER - 9]}_{digest}"


def asyncpg_dsn(url: str) -> str:
    """A libpq/asyncpg DSN from a SQLAlchemy URL (`postgresql+asyncpg://` -> `postgresql://`)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+")[0] not in ("postgresql", "postgres"):
        raise VectorStoreError("the pgvector store needs a postgresql:// URL")
    return f"postgresql://{rest}"


def signed_term(term: int) -> int:
    """A 32-bit unsigned term id as the int4 PostgreSQL stores."""
    return term - (1 << 32) if term >= (1 << 31) else term


def encode_vector(value: Any) -> bytes:
    """pgvector's binary format: dimension (uint16), unused (uint16), big-endian float4s."""
    array = np.asarray(value, dtype=">f4").ravel()
    return struct.pack(">HH", array.size, 0) + array.tobytes()


def decode_vector(data: bytes) -> npt.NDArray[np.float32]:
    """The inverse of `encode_vector`."""
    (dim,) = struct.unpack_from(">H", data)
    return np.frombuffer(data, dtype=">f4", count=dim, offset=4).astype(np.float32)


def encode_jsonb(value: Any) -> bytes:
    """jsonb's binary format (what COPY needs): version 1, then the JSON text."""
    return b"\x01" + json.dumps(value, separators=(",", ":")).encode("utf-8")


def decode_jsonb(data: bytes) -> Any:
    """The inverse of `encode_jsonb`."""
    return json.loads(data[1:])


async def _init_connection(conn: asyncpg.Connection, ef_search: int, iterative: bool) -> None:
    schema = await conn.fetchval(
        "SELECT n.nspname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
        "WHERE t.typname = 'vector'"
    )
    await conn.set_type_codec(
        "vector", schema=schema, encoder=encode_vector, decoder=decode_vector, format="binary"
    )
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=encode_jsonb, decoder=decode_jsonb, format="binary"
    )
    await conn.execute(f"SET hnsw.ef_search = {int(ef_search)}")
    if iterative:
        await conn.execute("SET hnsw.iterative_scan = relaxed_order")


def _scope_where(scope: SearchScope, first: int, alias: str) -> tuple[str, list[Any]]:
    """`tenant = $first [AND collection = ...] [AND document_id = ANY(...)]` and its values."""
    clauses = [f"{alias}.tenant_id = ${first}"]
    values: list[Any] = [scope.tenant_id]
    if scope.collection is not None:
        values.append(scope.collection)
        clauses.append(f"{alias}.collection = ${first + len(values) - 1}")
    if scope.document_ids is not None:
        values.append(list(scope.document_ids))
        clauses.append(f"{alias}.document_id = ANY(${first + len(values) - 1}::text[])")
    return " AND ".join(clauses), values


class PgVectorStore:
    """Chunks of all tenants in two PostgreSQL tables (see the module docstring)."""

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

    @property
    def name(self) -> str:
        """The collection's name (known once the vector size is)."""
        if self._dimension is None:
            raise VectorStoreError("vector size unknown: call ensure_ready(dimension) first")
        return collection_name(self._base, self._model_id, self._dimension)

    @property
    def table(self) -> str:
        """The chunk table's name; the postings table adds `_terms`."""
        return table_name(self.name)

    def _tables(self) -> tuple[str, str]:
        return f'"{self.table}"', f'"{self.table}_terms"'

    def _opened(self) -> asyncpg.Pool:
        if self._closed:
            raise VectorStoreError("the pgvector store is closed")
        if self._pool is None:
            raise VectorStoreError("the pgvector store is not open: call ensure_ready first")
        return self._pool

    # --- lifecycle -----------------------------------------------------------------------

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
            conn = await asyncpg.connect(self._dsn, timeout=self._timeout)
            try:
                version = await self._create_schema(conn)
            finally:
                await conn.close()
            iterative = tuple(int(p) for p in version.split(".")[:2]) >= (0, 8)
            self._pool = await asyncpg.create_pool(
                self._dsn,
                min_size=1,
                max_size=self._pool_max,
                timeout=self._timeout,
                init=lambda c: _init_connection(c, self._ef_search, iterative),
            )
        except VectorStoreError:
            raise
        except Exception as exc:
            raise VectorStoreError(f"cannot prepare pgvector table {self.table}: {exc}") from exc

    async def _create_schema(self, conn: asyncpg.Connection) -> str:
        """Create what is missing under an advisory lock; the extension's version."""
        chunks, terms = self._tables()
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self.table)
            await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {chunks} ("
                "id uuid PRIMARY KEY, tenant_id text NOT NULL, collection text, "
                f"document_id text, version integer, dense vector({self._dimension}) NOT NULL, "
                "payload jsonb NOT NULL)"
            )
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {terms} ("
                f"point_id uuid NOT NULL REFERENCES {chunks} (id) ON DELETE CASCADE, "
                "tenant_id text NOT NULL, collection text, document_id text, "
                "term integer NOT NULL, weight real NOT NULL, PRIMARY KEY (point_id, term))"
            )
            t = self.table
            for sql in (
                f'CREATE INDEX IF NOT EXISTS "{t}_scope" ON {chunks} '
                "(tenant_id, collection, document_id, version)",
                f'CREATE INDEX IF NOT EXISTS "{t}_document" ON {chunks} '
                "(tenant_id, document_id, version)",
                f'CREATE INDEX IF NOT EXISTS "{t}_hnsw" ON {chunks} '
                "USING hnsw (dense vector_cosine_ops)",
                f'CREATE INDEX IF NOT EXISTS "{t}_postings" ON {terms} (tenant_id, term) '
                "INCLUDE (collection, document_id, point_id, weight)",
            ):
                await conn.execute(sql)
            size = await conn.fetchval(
                "SELECT atttypmod FROM pg_attribute WHERE attrelid = $1::regclass "
                "AND attname = 'dense'",
                chunks,
            )
            version = await conn.fetchval(
                "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
            )
        if size != self._dimension:
            raise VectorStoreError(
                f"table {self.table} holds vectors of size {size}, not {self._dimension}"
            )
        return str(version)

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
        rows: list[tuple[Any, ...]] = []
        postings: list[tuple[Any, ...]] = []
        for point in points:
            payload = point.payload
            if "tenant_id" not in payload:
                raise VectorStoreError(f"point {point.id} has no tenant_id in its payload")
            if point.dense.shape != (self._dimension,):
                raise VectorStoreError(
                    f"point {point.id} has a dense vector of shape {point.dense.shape}"
                )
            tenant, coll, doc = (
                payload["tenant_id"],
                payload.get("collection"),
                payload.get("document_id"),
            )
            version = payload.get("version")
            rows.append((point.id, tenant, coll, doc, version, point.dense, payload))
            for term, weight in zip(point.sparse.indices, point.sparse.values, strict=True):
                postings.append((point.id, tenant, coll, doc, signed_term(term), weight))
        pool = self._opened()
        try:
            async with pool.acquire(timeout=self._timeout) as conn, conn.transaction():
                await conn.execute(
                    f'DELETE FROM "{self.table}" WHERE id = ANY($1::uuid[])',
                    [p.id for p in points],
                )
                await conn.copy_records_to_table(
                    self.table,
                    records=rows,
                    columns=[
                        "id",
                        "tenant_id",
                        "collection",
                        "document_id",
                        "version",
                        "dense",
                        "payload",
                    ],
                )
                if postings:
                    await conn.copy_records_to_table(
                        f"{self.table}_terms",
                        records=postings,
                        columns=[
                            "point_id",
                            "tenant_id",
                            "collection",
                            "document_id",
                            "term",
                            "weight",
                        ],
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
        self, vector: npt.NDArray[np.float32], scope: SearchScope, limit: int
    ) -> list[StoredHit]:
        """Nearest points by cosine similarity (the hit's score), best first."""
        where, values = _scope_where(scope, 2, "c")
        sql = (
            f'SELECT c.id, 1 - (c.dense <=> $1) AS score, c.payload FROM "{self.table}" c '
            f"WHERE {where} ORDER BY c.dense <=> $1 LIMIT {int(limit)}"
        )
        query = np.asarray(vector, dtype=np.float32)
        rows = await self._fetch(sql, query, *values, what="dense search")
        return [
            StoredHit(id=str(r["id"]), score=float(r["score"]), payload=r["payload"]) for r in rows
        ]

    async def search_sparse(
        self, vector: SparseVector, scope: SearchScope, limit: int, with_dense: bool = True
    ) -> list[StoredHit]:
        """Best points by BM25 (IDF over the tenant's collection), best first; with their
        dense vectors when `with_dense`."""
        if not vector.indices:
            return []
        chunks, terms = self._tables()
        corpus_where = "c.tenant_id = $1"
        terms_and = ""
        values: list[Any] = [
            scope.tenant_id,
            [signed_term(t) for t in vector.indices],
            list(vector.values),
        ]
        if scope.collection is not None:
            values.append(scope.collection)
            corpus_where += f" AND c.collection = ${len(values)}"
            terms_and = f"AND t.collection = ${len(values)}"
        docs_where = ""
        if scope.document_ids is not None:
            values.append(list(scope.document_ids))
            docs_where = f"WHERE p.document_id = ANY(${len(values)}::text[])"
        sql = BM25_SQL.format(
            chunks=chunks,
            terms=terms,
            corpus_where=corpus_where,
            terms_and=terms_and,
            docs_where=docs_where,
            limit=int(limit),
            dense=", c.dense" if with_dense else "",
        )
        rows = await self._fetch(sql, *values, what="sparse search")
        return [
            StoredHit(
                id=str(r["id"]),
                score=float(r["score"]),
                payload=r["payload"],
                dense=r["dense"] if with_dense else None,
            )
            for r in rows
        ]

    async def count(self, scope: SearchScope) -> int:
        """Number of points in scope (exact)."""
        where, values = _scope_where(scope, 1, "c")
        rows = await self._fetch(
            f'SELECT count(*) AS n FROM "{self.table}" c WHERE {where}', *values, what="count"
        )
        return int(rows[0]["n"])
