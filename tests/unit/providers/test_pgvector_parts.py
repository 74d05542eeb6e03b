"""The pgvector store's pure parts: which store the settings choose, its URL, table names,
term ids as int4 and the binary vector and jsonb formats it sends PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ragops.config.settings import Settings
from ragops.providers.vectorstore.base import VectorStoreError
from ragops.providers.vectorstore.pgvector_sql import (
    MAX_IDENTIFIER,
    asyncpg_dsn,
    decode_jsonb,
    decode_vector,
    encode_jsonb,
    encode_vector,
    signed_term,
    table_name,
)

PG = "postgresql+asyncpg://ragops@db.internal:5432/ragops"


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, data_dir=Path("/nonexistent"), **values)


@pytest.mark.parametrize(
    ("values", "store", "url"),
    [
        ({}, "edge", None),
        ({"database_url": PG}, "edge", PG),  # PostgreSQL alone keeps the embedded default
        ({"qdrant_url": "http://q:6333"}, "qdrant", None),
        ({"pgvector_url": PG}, "pgvector", PG),
        ({"pgvector_url": PG, "qdrant_url": "http://q:6333"}, "pgvector", PG),
        ({"vector_store": "pgvector", "database_url": PG}, "pgvector", PG),
        (
            {"vector_store": "pgvector", "database_url": "sqlite+aiosqlite:///x.db"},
            "pgvector",
            None,
        ),
        ({"vector_store": "edge", "pgvector_url": PG}, "edge", PG),
    ],
)
def test_settings_choose_the_store_and_its_url(
    values: dict[str, Any], store: str, url: str | None
) -> None:
    chosen = settings(**values)
    assert chosen.resolved_vector_store == store
    assert chosen.resolved_pgvector_url == url


def test_dsn_and_table_names() -> None:
    assert asyncpg_dsn(PG) == "postgresql://ragops@db.internal:5432/ragops"
    assert asyncpg_dsn("postgres://u@h/d?sslmode=require") == "postgresql://u@h/d?sslmode=require"
    with pytest.raises(VectorStoreError, match="postgresql://"):
        asyncpg_dsn("sqlite+aiosqlite:///x.db")
    assert table_name("ragops_chunks__all-minilm-l6-v2-int8_384") == (
        "ragops_chunks__all_minilm_l6_v2_int8_384"
    )
    long_a = table_name("ragops_chunks__" + "a" * 60 + "_1536")
    long_b = table_name("ragops_chunks__" + "a" * 61 + "_1536")
    assert len(long_a) == MAX_IDENTIFIER and long_a != long_b  # hashed, never truncated alike


def test_term_ids_fit_int4_without_collisions() -> None:
    assert signed_term(0) == 0 and signed_term(2**31 - 1) == 2**31 - 1
    assert signed_term(2**31) == -(2**31) and signed_term(2**32 - 1) == -1


def test_binary_formats_round_trip() -> None:
    vector = np.asarray([0.5, -1.25, 3.0], dtype=np.float32)
    data = encode_vector(vector)
    assert data[:4] == b"\x00\x03\x00\x00" and len(data) == 4 + 3 * 4
    np.testing.assert_array_equal(decode_vector(data), vector)
    payload = {"tenant_id": "t", "text": "café", "version": 2}
    assert encode_jsonb(payload)[:1] == b"\x01"
    assert decode_jsonb(encode_jsonb(payload)) == payload
