"""Rate limits over real HTTP: two ragops instances sharing one Redis count one limit per key
and per client address, with the `RateLimit-*` headers and `Retry-After`; without Redis the
limits hold in process. Authentication is off here: the limits count the presented key (by
its hash) whether or not the auth layer has run, and the tests stay independent of it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi import APIRouter, Depends, FastAPI, Request
from prometheus_client import REGISTRY

from ragops.config import Settings
from ragops.main import create_app
from ragops.security.limiter import KEY_PREFIX, RateLimiter, parse_limits
from ragops.security.rate_limit import (
    ROUTE_KINDS,
    Kind,
    apply_rate_limits,
    enforce_rate_limit,
)
from tests.conftest import REDIS_URL, LiveServer, RunningServer, make_settings
from tests.e2e.conftest import POOL_DOC, upload


def _flush_limits() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{KEY_PREFIX}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _settings(data_dir: Path, **overrides: Any) -> Settings:
    return make_settings(data_dir, auth_enabled=False, **overrides)


def _key() -> dict[str, str]:
    return {"Authorization": f"Bearer rgo_{uuid.uuid4().hex}{uuid.uuid4().hex[:11]}"}


def _limited(name: str) -> float:
    return REGISTRY.get_sample_value("ragops_rate_limited_total", {"limit": name}) or 0.0


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two instances, each with its own data, sharing the Redis of the rate limits."""
    _flush_limits()
    limits = {
        "redis_url": REDIS_URL,
        "rate_limit_chat": "3/minute",
        "rate_limit_ingest": "2/minute",
        "rate_limit_per_ip": "8/minute",
    }
    running = [
        RunningServer(_settings(tmp_path_factory.mktemp(name) / "var", **limits))
        for name in ("one", "two")
    ]
    try:
        yield running[0].start(), running[1].start()
    finally:
        for server in running:
            server.stop()
        _flush_limits()


def _ask(base_url: str, headers: dict[str, str]) -> httpx.Response:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        return client.post("/v1/chat", json={"question": "How big is the pool?"}, headers=headers)


def test_limits_are_shared_by_instances_through_redis(
    pair: tuple[LiveServer, LiveServer], caplog: pytest.LogCaptureFixture
) -> None:
    one, two = pair
    key, other_key = _key(), _key()
    before = _limited("chat")

    answers = [_ask(server.base_url, key) for server in (one, two, one)]
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert [r.headers["RateLimit-Remaining"] for r in answers] == ["2", "1", "0"]
    assert all(r.headers["RateLimit-Limit"] == "3" for r in answers)
    assert all(0 < int(r.headers["RateLimit-Reset"]) <= 60 for r in answers)
    assert "Retry-After" not in answers[0].headers

    refused = _ask(two.base_url, key)  # the fourth, on the other instance
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert refused.headers["RateLimit-Limit"] == "3"
    assert _limited("chat") == before + 1
    assert any("rate_limited" in record.getMessage() for record in caplog.records)

    assert _ask(two.base_url, other_key).status_code == 200  # each key has its own count

    # Five /v1 requests so far from 127.0.0.1; the per-address limit (8) is shared too.
    with httpx.Client(base_url=one.base_url, timeout=60) as first:
        with httpx.Client(base_url=two.base_url, timeout=60) as second:
            listed = [c.get("/v1/documents", headers=_key()) for c in (first, second, first)]
            assert [r.status_code for r in listed] == [200, 200, 200]
            assert [r.headers["RateLimit-Remaining"] for r in listed] == ["2", "1", "0"]
            assert listed[0].headers["RateLimit-Limit"] == "8"
            blocked = second.get("/v1/documents", headers=_key())
            assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
            assert blocked.json()["error"]["code"] == "rate_limited"
            health = first.get("/healthz")  # not an API route: never limited
            assert health.status_code == 200 and "RateLimit-Limit" not in health.headers


@pytest.fixture(scope="module")
def solo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, list[Any]]]:
    """One instance without Redis (in-process counts) and a security event hook."""
    events: list[Any] = []
    settings = _settings(
        tmp_path_factory.mktemp("solo") / "var",
        rate_limit_ingest="2/minute",
        rate_limit_chat="10/minute",
        rate_limit_per_ip="100/minute",
    )
    assert settings.redis_url is None
    running = RunningServer(settings)

    async def hook(event: str, details: dict[str, Any]) -> None:
        events.append((event, details))

    app = running.server.config.app
    assert isinstance(app, FastAPI)
    try:
        live = running.start()
        app.state.security_event_hook = hook  # in place of the audit trail's, set at start
        yield live, events
    finally:
        running.stop()


def test_ingest_limit_in_process_counts_uploads_and_deletes(
    solo: tuple[LiveServer, list[Any]],
) -> None:
    server, events = solo
    key = _key()
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        created = upload(client, [("pool.md", POOL_DOC, "text/markdown")], headers=key)
        assert created.status_code == 200 and created.headers["RateLimit-Remaining"] == "1"
        document_id = created.json()["results"][0]["document"]["id"]
        deleted = client.delete(f"/v1/documents/{document_id}", headers=key)
        assert deleted.status_code == 204 and deleted.headers["RateLimit-Remaining"] == "0"
        again = upload(client, [("pool.md", POOL_DOC, "text/markdown")], headers=key)
        assert again.status_code == 429 and int(again.headers["Retry-After"]) > 0
        assert again.json()["error"]["code"] == "rate_limited"
        listed = client.get("/v1/documents", headers=key)  # reading is not ingesting
        assert listed.status_code == 200 and listed.headers["RateLimit-Limit"] == "100"
        chat = client.post("/v1/chat/completions", headers=key, json={
            "model": "default", "messages": [{"role": "user", "content": "pool size?"}]
        })  # fmt: skip
        assert chat.status_code == 200 and chat.headers["RateLimit-Remaining"] == "9"
    assert [e for e, _ in events] == ["rate_limited"]
    assert events[0][1]["limit"] == "ingest" and events[0][1]["path"] == "/v1/documents"


def test_every_mapped_route_exists(tmp_path: Path) -> None:
    paths = create_app(_settings(tmp_path / "var")).openapi()["paths"]
    for method, template in ROUTE_KINDS:
        assert method.lower() in paths[template], (method, template)


def test_wired_after_the_routes_auth_with_the_keys_own_limit() -> None:
    """`apply_rate_limits` adds the dependency after a route's own (auth) dependency, so the
    key's own limit (`rate_limit_override`) applies; listed twice, it still counts once."""
    router = APIRouter(prefix="/v1")

    async def authenticate(request: Request) -> None:
        request.state.rate_limit_override = {"chat": "2/minute"}

    @router.post("/chat", dependencies=[Depends(authenticate)])
    async def answer() -> dict[str, str]:
        return {}

    @router.post("/documents", dependencies=[Depends(enforce_rate_limit("ingest"))])
    async def ingest() -> dict[str, str]:
        return {}

    app = FastAPI()
    app.include_router(router)
    limiter = RateLimiter("async+memory://", {"chat": "50/minute", "ingest": "1/minute"})
    kinds: dict[tuple[str, str], Kind] = {("POST", "/v1/chat"): "chat"}
    apply_rate_limits(app, limiter, {**kinds, ("POST", "/v1/documents"): "ingest"})
    with pytest.raises(RuntimeError, match="GET /v1/nowhere"):
        apply_rate_limits(app, limiter, {**kinds, ("GET", "/v1/nowhere"): "chat"})

    async def main() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            chats = [(await client.post("/v1/chat")).status_code for _ in range(3)]
            uploads = [(await client.post("/v1/documents")).status_code for _ in range(2)]
            return chats + uploads

    assert asyncio.run(main()) == [200, 200, 429, 200, 429]


def test_unreachable_redis_falls_back_to_per_instance_counters() -> None:
    limiter = RateLimiter("async+redis://127.0.0.1:1/0", {"chat": "1/minute"})

    async def two_hits() -> list[bool]:
        first = await limiter.hit("chat", "key:x")
        second = await limiter.hit("chat", "key:x")
        assert first is not None and second is not None
        return [first.exceeded, second.exceeded]

    assert asyncio.run(two_hits()) == [False, True]
    assert limiter.degraded


def test_invalid_limit_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="RAGOPS_RATE_LIMIT_CHAT"):
        create_app(_settings(tmp_path / "var", rate_limit_chat="lots"))
    assert [str(i) for i in parse_limits("5/second;100/hour")] == [
        "5 per 1 second",
        "100 per 1 hour",
    ]
