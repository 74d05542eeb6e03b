"""The pgvector store's queries are served by indexes: with its tables filled to a realistic
size (100 tenants x 3 collections, 6,000 chunks, 60,000 BM25 postings, and one tenant of
3,000 chunks) and analysed,
`EXPLAIN` of every statement the store sends for each scope shape shows no sequential scan,
and a large tenant's dense search uses the HNSW index."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pytest

from ragops.config.settings import Settings
from ragops.providers.vectorstore.base import SearchScope, SparseVector
from ragops.providers.vectorstore.pgvector import PgVectorStore
from ragops.providers.vectorstore.pgvector_sql import (
    asyncpg_dsn,
    bm25_query,
    count_query,
    dense_query,
    encode_vector,
)
from tests.conftest import PgVectorServer, pgvector_database, run_sync

DIM = 16
FILL = [
    'DROP INDEX "{t}_hnsw"',  # built once after the rows, faster than row by row
    """INSERT INTO "{t}" (id, tenant_id, collection, document_id, version, dense, payload)
       SELECT md5(i::text)::uuid, 't' || (i % 100), 'col' || (i % 3), 'd' || (i / 4), 1,
              (SELECT array_agg(random())::real[] FROM generate_series(1, {dim}) WHERE i >= 0)
                  ::vector, jsonb_build_object('text', 'chunk ' || i)
       FROM generate_series(0, 5999) i""",
    """INSERT INTO "{t}_terms" (point_id, tenant_id, collection, document_id, term, weight)
       SELECT md5(i::text)::uuid, 't' || (i % 100), 'col' || (i % 3), 'd' || (i / 4),
              (i * 7 + k * 13) % 5000, 1.0
       FROM generate_series(0, 5999) i, generate_series(0, 9) k""",
    # one big tenant, for the HNSW path
    """INSERT INTO "{t}" (id, tenant_id, collection, document_id, version, dense, payload)
       SELECT md5('big' || i)::uuid, 'big', 'col0', 'b' || i, 1,
              (SELECT array_agg(random())::real[] FROM generate_series(1, {dim}) WHERE i >= 0)
                  ::vector, '{{}}'::jsonb
       FROM generate_series(0, 2999) i""",
    'CREATE INDEX "{t}_hnsw" ON "{t}" USING hnsw (dense vector_cosine_ops)',
    'ANALYZE "{t}"',
    'ANALYZE "{t}_terms"',
]
SCOPES = {
    "tenant": SearchScope("t7"),
    "tenant and collection": SearchScope("t7", collection="col1"),
    "tenant and documents": SearchScope("t7", document_ids=("d7", "d107")),
    "all three": SearchScope("t7", collection="col1", document_ids=("d7",)),
}


async def _fill(url: str, data_dir: Path) -> str:
    settings = Settings(_env_file=None, data_dir=data_dir, pgvector_url=url)
    store = PgVectorStore(settings, model_id="plans", dimension=DIM)
    await store.ensure_ready(DIM)  # the store's own tables and indexes
    await store.aclose()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        for sql in FILL:
            await conn.execute(sql.format(t=store.table, dim=DIM))
    finally:
        await conn.close()
    return store.table


@pytest.fixture(scope="module")
def filled_db(
    pgvector_server: PgVectorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """(URL, chunk table) of one database filled once for the module."""
    with pgvector_database(pgvector_server) as url:
        yield url, run_sync(_fill(url, tmp_path_factory.mktemp("plans")))


@pytest.fixture
async def filled(filled_db: tuple[str, str]) -> AsyncIterator[tuple[Any, str]]:
    url, table = filled_db
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        yield conn, table
    finally:
        await conn.close()


async def plan(conn: Any, sql: str, values: list[Any]) -> str:
    rows = await conn.fetch(f"EXPLAIN (FORMAT JSON) {sql}", *values)
    return json.dumps(json.loads(rows[0][0]))


def query_vector() -> str:
    vector = np.random.default_rng(0).random(DIM).astype(np.float32)
    return "[" + ",".join(f"{v:.6f}" for v in vector) + "]"


@pytest.mark.parametrize("shape", sorted(SCOPES))
async def test_every_scope_is_served_by_an_index(filled: tuple[Any, str], shape: str) -> None:
    conn, table = filled
    scope = SCOPES[shape]
    sparse = SparseVector(indices=[7, 20, 33], values=[1.0, 1.0, 1.0])
    statements = {
        "count": count_query(table, scope),
        "bm25": bm25_query(table, sparse, scope, 100, True),
    }
    sql, values = dense_query(table, scope, 100)
    statements["dense"] = (sql.replace("$1", "$1::vector"), [query_vector(), *values])
    for name, (sql, values) in statements.items():
        explained = await plan(conn, sql, values)
        assert "Seq Scan" not in explained, (name, explained)
        assert "Index" in explained, (name, explained)


async def test_a_large_tenant_searches_the_hnsw_index(filled: tuple[Any, str]) -> None:
    conn, table = filled
    sql, values = dense_query(table, SearchScope("big"), 10)
    explained = await plan(conn, sql.replace("$1", "$1::vector"), [query_vector(), *values])
    assert f"{table}_hnsw" in explained, explained
    assert encode_vector([1.0])  # the codec the store's pool uses exists for this type


async def test_hnsw_searches_return_the_full_limit_every_time(
    filled_db: tuple[str, str], tmp_path: Path
) -> None:
    """The index scan's width (`hnsw.ef_search`, 40 by default) caps what one search returns,
    and pgvector 0.6 filters the tenant after the scan: a tenant with a third of the table
    still gets its full 100 nearest chunks, the same as an exact search, every time."""
    url, _ = filled_db
    settings = Settings(_env_file=None, data_dir=tmp_path, pgvector_url=url, db_pool_max=1)
    store = PgVectorStore(settings, model_id="plans", dimension=DIM)
    await store.ensure_ready(DIM)
    try:
        vector = np.random.default_rng(1).random(DIM).astype(np.float32)
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            sql, values = dense_query(store.table, SearchScope("big"), 100, exact=True)
            text = "[" + ",".join(repr(float(v)) for v in vector) + "]"
            rows = await conn.fetch(sql.replace("$1", "$1::vector"), text, *values)
            exact = [str(r["id"]) for r in rows]
        finally:
            await conn.close()
        for _ in range(3):  # one pooled connection, reset between searches
            hits = await store.search_dense(vector, SearchScope("big"), 100)
            assert [h.id for h in hits] == exact
    finally:
        await store.aclose()
