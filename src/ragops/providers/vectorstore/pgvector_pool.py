"""Connections of the pgvector store (`pgvector.py`): the schema created under an advisory
lock, then a pool whose connections carry the `vector` and `jsonb` binary codecs and the HNSW
search settings.

Creation runs under `pg_advisory_xact_lock(hashtext(<table>))`, so instances starting together
do not race. The search settings are session defaults of the pool's connections (not `SET`: the
pool runs `RESET ALL` on every release); on pgvector 0.8+ they turn on iterative index scans.
"""

from __future__ import annotations

import asyncpg

from ragops.providers.vectorstore.base import VectorStoreError
from ragops.providers.vectorstore.pgvector_sql import (
    SECOND_COLUMN,
    decode_jsonb,
    decode_vector,
    encode_jsonb,
    encode_vector,
    schema_statements,
    second_index,
)


async def init_connection(conn: asyncpg.Connection) -> None:
    """Register the binary codecs of `vector` (wherever the extension lives) and `jsonb`."""
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


def search_settings(ef_search: int, iterative: bool) -> dict[str, str]:
    """The HNSW search parameters of every connection of the store."""
    values = {"hnsw.ef_search": str(int(ef_search))}
    if iterative:
        values["hnsw.iterative_scan"] = "relaxed_order"
    return values


SIZE_SQL = "SELECT atttypmod FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2"


async def create_schema(
    conn: asyncpg.Connection, table: str, dimension: int, second: int | None = None
) -> tuple[str, int | None]:
    """Create what is missing under an advisory lock (a new chunk table with the second
    embedder's column when `second` is its size); the extension's version and the size of
    the table's second vector (None: the table has no such column)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", table)
        await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        for sql in schema_statements(table, dimension, second):
            await conn.execute(sql)
        size = await conn.fetchval(SIZE_SQL, f'"{table}"', "dense")
        has_second = await conn.fetchval(SIZE_SQL, f'"{table}"', SECOND_COLUMN)
        if has_second is not None:
            await conn.execute(second_index(table))
        version = await conn.fetchval(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        )
    if size != dimension:
        raise VectorStoreError(f"table {table} holds vectors of size {size}, not {dimension}")
    return str(version), (int(has_second) if has_second is not None else None)


async def open_pool(
    dsn: str,
    table: str,
    dimension: int,
    *,
    ef_search: int,
    max_size: int,
    timeout: float,
    second: int | None = None,
) -> tuple[asyncpg.Pool, int | None]:
    """Create the schema if missing (on a connection of its own), then the store's pool;
    returns it and the size of the table's second vector (None: it has none)."""
    conn = await asyncpg.connect(dsn, timeout=timeout)
    try:
        version, has_second = await create_schema(conn, table, dimension, second)
    finally:
        await conn.close()
    iterative = tuple(int(p) for p in version.split(".")[:2]) >= (0, 8)
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=max_size,
        timeout=timeout,
        init=init_connection,
        # Session defaults, not SET: the pool runs RESET ALL on every release.
        server_settings=search_settings(ef_search, iterative),
    )
    return pool, has_second
