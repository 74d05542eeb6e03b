"""Pool exhaustion on PostgreSQL: with every pooled connection busy, a request waits at most
`RAGOPS_DB_POOL_TIMEOUT` seconds and is answered 503 `db_pool_exhausted` with `Retry-After`,
then the service answers normally once a connection is free. The pool follows the settings."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from ragops.db.engine import engine_options
from ragops.main import create_app
from tests.conftest import create_api_key, free_port, make_settings


def test_postgres_pool_defaults_follow_the_spec(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url="postgresql+asyncpg://u@127.0.0.1/db")
    options = engine_options(settings)
    assert options["pool_size"] == 5
    assert options["pool_size"] + options["max_overflow"] == 20
    assert options["pool_timeout"] == 30.0


async def test_exhausted_pool_answers_503_with_retry_after(pg_url: str, tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "var",
        database_url=pg_url,
        db_pool_min=1,
        db_pool_max=1,
        db_pool_timeout=1.0,
        dependency_check_seconds=0.0,
    )
    app: FastAPI = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        key = create_api_key(settings)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30
        ) as client:
            assert (await client.get("/v1/documents")).status_code == 200
            engine = app.state.runtime.db.engine
            held = await engine.connect()  # the only connection of the pool
            await held.exec_driver_sql("SELECT 1")
            try:
                started = time.perf_counter()
                refused = await client.get("/v1/documents")
                waited = time.perf_counter() - started
            finally:
                await held.close()
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "db_pool_exhausted"
            assert int(refused.headers["Retry-After"]) > 0
            assert 0.9 <= waited < 5.0  # the configured wait, not a hang
            assert (await client.get("/v1/documents")).status_code == 200
    finally:
        server.should_exit = True
        await serving
