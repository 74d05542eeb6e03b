"""The SQL of the pgvector store (`pgvector.py`): table names, DDL, the records an upsert
copies in, the queries of each scope, and the binary formats of `vector` and `jsonb` that the
store's connections use.

Pure functions: `tests/integration/test_pgvector_plans.py` runs `EXPLAIN` on the very
statements built here to check that every scope is served by an index.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ragops.providers.vectorstore.base import (
    ChunkPoint,
    SearchScope,
    SparseVector,
    StoredHit,
    VectorStoreError,
    check_point,
)

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
SELECT c.id, top.score{payload}{dense} FROM top JOIN {chunks} c ON c.id = top.point_id
ORDER BY top.score DESC, c.id
"""


def table_name(name: str) -> str:
    """`name` if short enough for PostgreSQL, else its start and a hash of the whole."""
    name = re.sub(r"[^a-z0-9_]+", "_", name.lower())
    if len(name) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.sha1(name.encode("utf-8"), usedforsecurity=False).hexdigest()[:8]
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


SECOND_COLUMN = "dense_second"
"""The chunk table's column of the second embedder's vector (nullable), only in a table
created with `RAGOPS_SECOND_EMBEDDER` set."""


def second_index(table: str) -> str:
    """The HNSW index of the second embedder's vector (run when the table has the column)."""
    return (
        f'CREATE INDEX IF NOT EXISTS "{table}_hnsw_second" ON "{table}" '
        f"USING hnsw ({SECOND_COLUMN} vector_cosine_ops)"
    )


def schema_statements(table: str, dimension: int, second: int | None = None) -> list[str]:
    """`CREATE ... IF NOT EXISTS` of the chunk, postings and sentence tables and their
    indexes (an older store gains the sentence table on its next start); a chunk table
    created with a `second` vector size gets the column `SECOND_COLUMN`."""
    chunks, terms = f'"{table}"', f'"{table}_terms"'
    extra = f"{SECOND_COLUMN} vector({second}), " if second is not None else ""
    return [
        f"CREATE TABLE IF NOT EXISTS {chunks} ("
        "id uuid PRIMARY KEY, tenant_id text NOT NULL, collection text, "
        f"document_id text, version integer, dense vector({dimension}) NOT NULL, "
        f"{extra}payload jsonb NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {terms} ("
        f"point_id uuid NOT NULL REFERENCES {chunks} (id) ON DELETE CASCADE, "
        "tenant_id text NOT NULL, collection text, document_id text, "
        "term integer NOT NULL, weight real NOT NULL, PRIMARY KEY (point_id, term))",
        f'CREATE INDEX IF NOT EXISTS "{table}_scope" ON {chunks} '
        "(tenant_id, collection, document_id, version)",
        f'CREATE INDEX IF NOT EXISTS "{table}_document" ON {chunks} '
        "(tenant_id, document_id, version)",
        f'CREATE INDEX IF NOT EXISTS "{table}_hnsw" ON {chunks} '
        "USING hnsw (dense vector_cosine_ops)",
        f'CREATE INDEX IF NOT EXISTS "{table}_postings" ON {terms} (tenant_id, term) '
        "INCLUDE (collection, document_id, point_id, weight)",
        # The primary key serves the lookup by point id (`sentence_query`).
        f'CREATE TABLE IF NOT EXISTS "{table}_sentences" ('
        f"point_id uuid NOT NULL REFERENCES {chunks} (id) ON DELETE CASCADE, "
        "tenant_id text NOT NULL, collection text, unit smallint NOT NULL, "
        f"dense vector({dimension}) NOT NULL, PRIMARY KEY (point_id, unit))",
    ]


CHUNK_COLUMNS = ["id", "tenant_id", "collection", "document_id", "version", "dense", "payload"]
TERM_COLUMNS = ["point_id", "tenant_id", "collection", "document_id", "term", "weight"]
SENTENCE_COLUMNS = ["point_id", "tenant_id", "collection", "unit", "dense"]


def sentence_records(points: Sequence[ChunkPoint], dimension: int | None) -> list[tuple[Any, ...]]:
    """The sentence rows (`SENTENCE_COLUMNS`) of `points`, one per unit vector."""
    rows: list[tuple[Any, ...]] = []
    for point in points:
        units = point.sentences
        if units is None or not len(units):
            continue
        if units.ndim != 2 or units.shape[1] != dimension:
            raise VectorStoreError(f"point {point.id} has sentence vectors of shape {units.shape}")
        tenant, coll = point.payload["tenant_id"], point.payload.get("collection")
        rows.extend((point.id, tenant, coll, i, units[i]) for i in range(len(units)))
    return rows


def sentence_query(table: str, scope: SearchScope) -> tuple[str, list[Any]]:
    """The best sentence cosine to `$1` of each point of `$2` (uuids) within the scope's
    tenant and collection; the values after `$2`."""
    where = "s.point_id = ANY($2::uuid[]) AND s.tenant_id = $3"
    values: list[Any] = [scope.tenant_id]
    if scope.collection is not None:
        values.append(scope.collection)
        where += " AND s.collection = $4"
    sql = (
        "SELECT s.point_id AS id, max(1 - (s.dense <=> $1)) AS score "
        f'FROM "{table}_sentences" s WHERE {where} GROUP BY s.point_id'
    )
    return sql, values


def point_records(
    points: Sequence[ChunkPoint], dimension: int | None, *, second: bool = False
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The chunk rows (`CHUNK_COLUMNS`, with `second` then `SECOND_COLUMN`) and postings
    (`TERM_COLUMNS`) of `points`; a point without a tenant or with a dense vector of another
    size raises `VectorStoreError`."""
    rows: list[tuple[Any, ...]] = []
    postings: list[tuple[Any, ...]] = []
    for point in points:
        check_point(point, dimension)
        payload = point.payload
        tenant, coll, doc = (
            payload["tenant_id"],
            payload.get("collection"),
            payload.get("document_id"),
        )
        version = payload.get("version")
        row = (point.id, tenant, coll, doc, version, point.dense, payload)
        rows.append((*row, point.second) if second else row)
        for term, weight in zip(point.sparse.indices, point.sparse.values, strict=True):
            postings.append((point.id, tenant, coll, doc, signed_term(term), weight))
    return rows, postings


def scope_where(scope: SearchScope, first: int, alias: str) -> tuple[str, list[Any]]:
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


def dense_query(
    table: str,
    scope: SearchScope,
    limit: int,
    *,
    exact: bool = False,
    payload: bool = True,
    column: str = "dense",
) -> tuple[str, list[Any]]:
    """Nearest chunks to `$1` (the query vector) in scope by `column` (`dense`, or
    `SECOND_COLUMN`: chunks without a second vector are left out); the values after `$1`.
    `exact` orders by an expression the HNSW index cannot serve, so PostgreSQL reads the
    scope through its b-tree and sorts every row in it."""
    where, values = scope_where(scope, 2, "c")
    if column != "dense":
        where += f" AND c.{column} IS NOT NULL"
    # The HNSW index serves only `ORDER BY dense <=> query` alone, without a tie-breaker.
    distance = f"c.{column} <=> $1"
    order = f"({distance}) + 0, c.id" if exact else distance
    sql = (
        f"SELECT c.id, 1 - ({distance}) AS score{', c.payload' if payload else ''} "
        f'FROM "{table}" c WHERE {where} ORDER BY {order} LIMIT {int(limit)}'
    )
    return sql, values


def bm25_query(
    table: str,
    vector: SparseVector,
    scope: SearchScope,
    limit: int,
    with_dense: bool,
    payload: bool = True,
) -> tuple[str, list[Any]]:
    """BM25 of `vector` in scope, IDF over the scope's tenant and collection; all values."""
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
        chunks=f'"{table}"',
        terms=f'"{table}_terms"',
        corpus_where=corpus_where,
        terms_and=terms_and,
        docs_where=docs_where,
        limit=int(limit),
        payload=", c.payload" if payload else "",
        dense=", c.dense" if with_dense else "",
    )
    return sql, values


def fetch_query(
    table: str, scope: SearchScope, *, dense: bool, second: bool
) -> tuple[str, list[Any]]:
    """The payloads (and the vectors asked for) of the points `$1` (uuids) within the scope's
    tenant and collection (not its documents: a fetch reads the ids it is given); the values
    after `$1`."""
    corpus = SearchScope(tenant_id=scope.tenant_id, collection=scope.collection)
    where, values = scope_where(corpus, 2, "c")
    columns = (", c.dense" if dense else "") + (f", c.{SECOND_COLUMN}" if second else "")
    sql = f'SELECT c.id, c.payload{columns} FROM "{table}" c WHERE c.id = ANY($1::uuid[]) AND '
    return sql + where, values


def fetched_hit(row: Any, *, dense: bool, second: bool) -> StoredHit:
    """A `StoredHit` (score 0) of a row of `fetch_query`."""
    return StoredHit(
        id=str(row["id"]),
        score=0.0,
        payload=row["payload"],
        dense=row["dense"] if dense else None,
        second=row[SECOND_COLUMN] if second else None,
    )


def count_query(table: str, scope: SearchScope) -> tuple[str, list[Any]]:
    """Chunks in scope."""
    where, values = scope_where(scope, 1, "c")
    return f'SELECT count(*) AS n FROM "{table}" c WHERE {where}', values
