"""Liveness, readiness and version over real HTTP: every dependency checked (real Redis, a fake
LLM on loopback), results cached, the LLM optional, a required dependency down means 503."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ragops.db import migrate
from tests.conftest import REDIS_URL, LiveServer, RunningServer, free_port
from tests.fakes.llm import FakeLLMServer, serve_fake_llm
from tests.ops_app.conftest import ops_settings

LLM_KEY = "sk-readinessplantedkey0123456789"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with serve_fake_llm() as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake: FakeLLMServer) -> Iterator[LiveServer]:
    """The app with every dependency configured: SQLite, Qdrant local, Redis and an LLM."""
    settings = ops_settings(
        tmp_path_factory.mktemp("ready") / "var",
        redis_url=REDIS_URL,
        llm_base_url=fake.base_url,
        llm_api_key=LLM_KEY,
        readiness_cache_seconds=1.0,
        readiness_slow_ms=1500,
        readiness_timeout_seconds=5.0,
        git_commit="0123456789abcdef0123456789abcdef01234567",
        build_time="2025-01-02T03:04:05Z",
        image_tag="main-0123456",
    )
    running = RunningServer(settings)
    try:
        live = running.start()
        # The background dependency check pings the LLM once at start: let it land before
        # the tests count the fake's requests.
        deadline = time.monotonic() + 30
        while not any(r.path.endswith("/models") for r in fake.requests):
            assert time.monotonic() < deadline, "no background dependency check"
            time.sleep(0.05)
        yield live
    finally:
        running.stop()


@pytest.fixture
def client(server: LiveServer, fake: FakeLLMServer) -> Iterator[httpx.Client]:
    fake.reset()
    time.sleep(1.05)  # let the previous test's cached readiness expire
    with server.client() as c:
        yield c
    fake.reset()


def test_healthz_is_always_ok(client: httpx.Client, fake: FakeLLMServer) -> None:
    fake.set_api_key("another-key")  # a dependency down changes nothing for liveness
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert fake.requests == []


def test_readyz_checks_every_dependency_and_caches(
    client: httpx.Client, fake: FakeLLMServer
) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready" and body["ready"] is True and body["reasons"] == []
    assert body["draining"] is False and body["load"]["shedding"] is False
    deps = body["dependencies"]
    assert set(deps) == {"database", "vector_store", "redis", "llm"}
    for name, dep in deps.items():
        assert dep["status"] == "ok", (name, dep)
        assert dep["latency_ms"] >= 0 and dep["error"] is None
    assert deps["database"]["required"] and not deps["llm"]["required"]
    assert body["cached"] is False
    pings = len(fake.requests)
    assert pings == 1  # GET /models

    again = client.get("/readyz").json()
    assert again["cached"] is True
    assert len(fake.requests) == pings  # a cached result touches no dependency


def test_llm_down_is_degraded_but_ready(client: httpx.Client, fake: FakeLLMServer) -> None:
    fake.set_api_key("a-key-ragops-does-not-have")
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "degraded" and body["ready"] is True
    assert "llm_down" in body["reasons"]
    llm = body["dependencies"]["llm"]
    assert llm["status"] == "down" and llm["error"] and llm["last_error"] == llm["error"]
    assert LLM_KEY not in response.text
    scrape = client.get("/metrics").text
    assert 'ragops_dependency_up{dependency="llm"} 0.0' in scrape
    assert 'ragops_dependency_up{dependency="database"} 1.0' in scrape

    fake.set_api_key(None)
    time.sleep(1.05)
    recovered = client.get("/readyz").json()
    assert recovered["status"] == "ready"
    assert recovered["dependencies"]["llm"]["error"] is None
    assert recovered["dependencies"]["llm"]["last_error"] == llm["error"]  # kept for operators


def test_slow_dependency_is_degraded(client: httpx.Client, fake: FakeLLMServer) -> None:
    fake.fail_next("slow", delay=2.0)
    body = client.get("/readyz").json()
    assert body["dependencies"]["llm"]["status"] == "degraded"
    assert body["dependencies"]["llm"]["latency_ms"] >= 1500
    assert body["status"] == "degraded" and "llm_degraded" in body["reasons"]


def test_version_names_the_build_and_the_migrations(client: httpx.Client) -> None:
    response = client.get("/version")
    assert response.status_code == 200
    body = response.json()
    assert body["version"]
    assert body["commit"] == "0123456789abcdef0123456789abcdef01234567"
    assert body["build_time"] == "2025-01-02T03:04:05Z"
    assert body["image_tag"] == "main-0123456"
    head = migrate.head_revision()
    assert body["migrations"] == {
        "current": head,
        "head": head,
        "up_to_date": True,
        "error": None,
    }


def test_redis_down_is_degraded_not_503(tmp_path: Path) -> None:
    password = "redis-planted-password-42"
    settings = ops_settings(
        tmp_path / "var",
        redis_url=f"redis://:{password}@127.0.0.1:{free_port()}/0",
        readiness_timeout_seconds=1.0,
    )
    running = RunningServer(settings)
    live = running.start()
    try:
        with live.client() as client:
            response = client.get("/readyz")
            assert response.status_code == 200, response.text  # the RedisDown runbook
            body = response.json()
            assert body["status"] == "degraded" and body["ready"] is True
            assert body["reasons"] == ["redis_down"]
            assert body["dependencies"]["redis"]["status"] == "down"
            assert body["dependencies"]["database"]["status"] == "ok"
            assert password not in response.text
            assert client.get("/healthz").status_code == 200
    finally:
        running.stop()
