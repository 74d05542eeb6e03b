"""Not ready while shedding load: requests in flight at the limit (new ones get 503), or
checkouts waiting on a full PostgreSQL pool. Slow requests are held by test-only routes."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
from fastapi import Request
from sqlalchemy import text

from ragops.api.deps import get_runtime
from tests.conftest import RunningServer
from tests.ops_app.conftest import app_of, fresh_pg_database, ops_settings


def _wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.05)


def _shed_total(client: httpx.Client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("ragops_shed_requests_total "):
            return float(line.split()[1])
    return 0.0


def test_in_flight_limit_sheds_and_is_not_ready(tmp_path: Path) -> None:
    release = threading.Event()
    running = RunningServer(
        ops_settings(tmp_path / "var", max_in_flight_requests=1, readiness_cache_seconds=0)
    )

    async def hold() -> dict[str, str]:
        await asyncio.to_thread(release.wait, 20)
        return {"held": "done"}

    app_of(running).add_api_route("/test/hold", hold)
    live = running.start()
    try:
        with live.client() as client, ThreadPoolExecutor(1) as pool:
            assert client.get("/readyz").status_code == 200
            shed_before = _shed_total(client)
            held: Future[httpx.Response] = pool.submit(client.get, "/test/hold")
            _wait_until(lambda: client.get("/readyz").json()["load"]["in_flight"] == 1)

            ready = client.get("/readyz")
            assert ready.status_code == 503
            body = ready.json()
            assert body["reasons"] == ["in_flight_limit"]
            assert body["load"]["shedding"] is True and body["load"]["max_in_flight"] == 1

            shed = client.get("/v1/collections", headers={"X-Request-ID": "shed-me-1"})
            assert shed.status_code == 503
            assert shed.headers["retry-after"] == "1"
            assert shed.json()["error"]["code"] == "overloaded"
            assert shed.json()["error"]["request_id"] == "shed-me-1"
            # Operations endpoints keep answering under load.
            assert client.get("/healthz").status_code == 200
            assert _shed_total(client) == shed_before + 1
            assert 'route="shed",status="503"' in client.get("/metrics").text

            release.set()
            assert held.result(timeout=20).json() == {"held": "done"}
            assert client.get("/readyz").status_code == 200
            assert client.get("/v1/collections").status_code == 200
    finally:
        release.set()
        running.stop()


def test_saturated_database_pool_is_not_ready(tmp_path: Path) -> None:
    with fresh_pg_database() as pg_url:
        _saturate_the_pool(tmp_path, pg_url)


def _saturate_the_pool(tmp_path: Path, pg_url: str) -> None:
    release = threading.Event()
    running = RunningServer(
        ops_settings(
            tmp_path / "var",
            database_url=pg_url,
            db_pool_min=1,
            db_pool_max=1,
            db_pool_timeout=20,
            readiness_cache_seconds=0,
            readiness_timeout_seconds=0.5,
        )
    )

    async def hold(request: Request) -> dict[str, str]:
        async with get_runtime(request).db.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            await asyncio.to_thread(release.wait, 20)
        return {"held": "done"}

    app_of(running).add_api_route("/test/hold-connection", hold)
    live = running.start()
    try:
        with live.client() as client, ThreadPoolExecutor(2) as pool:
            assert client.get("/readyz").status_code == 200
            holder = pool.submit(client.get, "/test/hold-connection")
            _wait_until(lambda: client.get("/readyz").json()["load"]["db_pool"]["checked_out"] == 1)
            waiter = pool.submit(client.get, "/test/hold-connection")  # waits for the pool
            _wait_until(lambda: client.get("/readyz").json()["load"]["db_pool"]["waiters"] >= 1)

            ready = client.get("/readyz")
            assert ready.status_code == 503
            body = ready.json()
            assert "db_pool_saturated" in body["reasons"]
            assert body["load"]["db_pool"]["max"] == 1

            release.set()
            assert holder.result(timeout=30).status_code == 200
            assert waiter.result(timeout=30).status_code == 200
            _wait_until(lambda: client.get("/readyz").status_code == 200)
    finally:
        release.set()
        running.stop()
