"""`ragops stack up` checks the pgvector store's server before it starts any instance: without
the `vector` extension every instance stopped at start and supervisord restarted them until
`up` gave up after its whole timeout ("not ready within 300 s"), the cause only in the
instances' logs."""

from __future__ import annotations

import time
from pathlib import Path

import asyncpg
import pytest

from ragops.providers.vectorstore.pgvector_sql import asyncpg_dsn
from ragops.stack.config import make_plan, write_files
from ragops.stack.service import Stack, StackError, _check_vector_extension
from tests.conftest import REDIS_URL, pg_database, run_sync


async def _has_vector(url: str) -> bool:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        found = await conn.fetchval("select 1 from pg_available_extensions where name = 'vector'")
    finally:
        await conn.close()
    return bool(found)


def test_up_refuses_a_server_without_the_vector_extension_at_once(tmp_path: Path) -> None:
    with pg_database() as url:
        if run_sync(_has_vector(url)):
            pytest.skip("this PostgreSQL has the vector extension")
        overrides = {"RAGOPS_DATABASE_URL": url, "RAGOPS_REDIS_URL": REDIS_URL}
        stack = Stack(make_plan(tmp_path / "run", 2, environ={}, overrides=overrides))
        write_files(stack.plan)
        began = time.monotonic()
        with pytest.raises(StackError, match="needs PostgreSQL's vector extension"):
            stack.up(timeout=120)
        assert time.monotonic() - began < 60
        assert stack.supervisord_pid() is None  # nothing was started


def test_a_server_with_the_extension_passes(pgvector_url: str) -> None:
    run_sync(_check_vector_extension(pgvector_url))
