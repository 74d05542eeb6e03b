"""Pool exhaustion on PostgreSQL: with every pooled connection busy, a request waits at most
`RAGOPS_DB_POOL_TIMEOUT` seconds and is answered 503 `db_pool_exhausted` with `Retry-After`,
then the service answers normally once a connection is free; readiness calls the database
degraded (it answers outside the pool), not down, so the DatabaseDown alert does not page.
The pool follows the settings, and opens its baseline (`RAGOPS_DB_POOL_MIN`) when the service
starts and after a pool reset."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
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


def one_connection_server(
    pg_url: str, tmp_path: Path
) -> contextlib.AbstractAsyncContextManager[tuple[FastAPI, httpx.AsyncClient]]:
    """A served app whose PostgreSQL pool holds one connection, and a client with a key."""
    return pool_server(pg_url, tmp_path, db_pool_min=1, db_pool_max=1, db_pool_timeout=1.0)


@asynccontextmanager
async def pool_server(
    pg_url: str, tmp_path: Path, **pool: float
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """A served app on PostgreSQL with the `pool` settings, and a client with a key."""
    settings = make_settings(
        tmp_path / "var",
        database_url=pg_url,
        dependency_check_seconds=0.0,
        readiness_cache_seconds=0.0,
        **pool,
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
            yield app, client
    finally:
        server.should_exit = True
        await serving


async def test_exhausted_pool_answers_503_with_retry_after(pg_url: str, tmp_path: Path) -> None:
    async with one_connection_server(pg_url, tmp_path) as (app, client):
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


def database_up(metrics_text: str) -> float:
    for line in metrics_text.splitlines():
        if line.startswith('ragops_dependency_up{dependency="database"}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("ragops_dependency_up{dependency=database} not exported")


async def test_a_full_pool_is_not_a_database_down(pg_url: str, tmp_path: Path) -> None:
    async with one_connection_server(pg_url, tmp_path) as (app, client):
        held = await app.state.runtime.db.engine.connect()  # the only connection of the pool
        await held.exec_driver_sql("SELECT 1")
        try:
            ready = await client.get("/readyz")
            metrics_text = (await client.get("/metrics")).text
        finally:
            await held.close()
        database = ready.json()["dependencies"]["database"]
        assert database["status"] == "degraded", ready.text
        assert database["error"] is None
        assert "pool full: 1 of 1 connections in use" in database["note"]
        assert "database_down" not in ready.json()["reasons"]
        assert database_up(metrics_text) == 1.0
        again = (await client.get("/readyz")).json()["dependencies"]["database"]
        assert again["status"] == "ok" and again["note"] is None


async def service_connections(pg_url: str) -> int:
    """Open connections of the service's pool (application_name "ragops") to the database."""
    name = pg_url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(pg_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = $1 AND application_name = 'ragops'",
                name,
            )
        )
    finally:
        await conn.close()


def opened(app: FastAPI) -> int:
    """Connections the service's current pool holds, idle or in use."""
    pool = app.state.runtime.db.engine.pool
    return int(pool.checkedin() + pool.checkedout())


async def test_the_pool_opens_its_baseline_at_start_and_after_a_reset(
    pg_url: str, tmp_path: Path
) -> None:
    async with pool_server(pg_url, tmp_path, db_pool_min=5, db_pool_max=20) as (app, client):
        # before any request: the baseline is open, not only what start-up happened to use
        assert await service_connections(pg_url) == 5
        reset = await client.post("/v1/admin/db/pool/reset")
        assert reset.status_code == 200, reset.text
        pool = app.state.runtime.db.engine.pool  # the new pool
        for _ in range(100):  # the reset reaches the instance through NOTIFY
            if app.state.pool_signals.resets and pool is not app.state.runtime.db.engine.pool:
                break
            await asyncio.sleep(0.05)
        for _ in range(100):
            if opened(app) == 5:
                break
            await asyncio.sleep(0.05)
        assert app.state.pool_signals.resets == 1
        assert opened(app) == 5
        # the old pool's connections are all closed (one in use closes as it is returned, not
        # when that pool is collected): only the new baseline is left
        for _ in range(100):
            if await service_connections(pg_url) == 5:
                break
            await asyncio.sleep(0.05)
        assert await service_connections(pg_url) == 5
