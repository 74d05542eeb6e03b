"""Faults on the network path to Redis, injected in a network namespace of the test's own
(tests/resilience/netns.py): a blackhole (every packet dropped, so connections hang rather than
fail) and, where the kernel has netem, delay and loss. Under each fault every request answers
within a bound, 200 or 503 with `Retry-After`, never a hang, and when the path heals the
service is back on Redis without a restart.

Bounded in time: each request has a client timeout, the faults last seconds, and the
namespace, its links and its Redis are removed at the end.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunningServer, make_settings
from tests.resilience.netns import NamespacedRedis, unavailable

DOC = b"# Pool\n\nThe database pool keeps five connections open and grows to twenty.\n"
BOUND = 12.0  # seconds a request may take under a fault: Redis timeouts are 1-2 s per call


@pytest.fixture
def netns_redis(tmp_path: Path) -> Iterator[NamespacedRedis]:
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    server = NamespacedRedis(tmp_path / "redis")
    try:
        yield server.start()
    finally:
        server.close()


def _serve(tmp_path: Path, redis: NamespacedRedis) -> RunningServer:
    settings = make_settings(
        tmp_path / "var",
        redis_url=redis.url,
        readiness_cache_seconds=0.0,
        dependency_check_seconds=0.0,
        rate_limit_chat="1000/minute",
        rate_limit_per_ip="1000/minute",
    )
    return RunningServer(settings)


def _bounded(client: httpx.Client, method: str, path: str, **kwargs: object) -> httpx.Response:
    started = time.monotonic()
    response = client.request(method, path, timeout=BOUND + 5, **kwargs)  # type: ignore[arg-type]
    elapsed = time.monotonic() - started
    assert elapsed < BOUND, f"{method} {path} took {elapsed:.1f} s under the fault"
    assert response.status_code in (200, 503), response.text
    if response.status_code == 503:
        assert int(response.headers["Retry-After"]) > 0
    return response


def _questions(client: httpx.Client, n: int, tag: str) -> list[int]:
    statuses = []
    for i in range(n):
        question = f"How many connections does the database pool keep open? ({tag} {i})"
        statuses.append(
            _bounded(client, "POST", "/v1/chat", json={"question": question}).status_code
        )
    return statuses


def test_blackholed_redis_never_hangs_requests_and_recovers(
    tmp_path: Path, netns_redis: NamespacedRedis
) -> None:
    running = _serve(tmp_path, netns_redis)
    live = running.start()
    try:
        with live.client() as client:
            assert (
                client.post(
                    "/v1/documents", files={"files": ("pool.md", DOC, "text/markdown")}
                ).status_code
                == 200
            )
            assert _questions(client, 2, "before") == [200, 200]

            netns_redis.blackhole()
            # Redis is a cache and a counter: answers go on (cache bypassed, per-instance limits)
            statuses = _questions(client, 4, "cut")
            assert statuses.count(200) >= 3, statuses
            ready = _bounded(client, "GET", "/readyz")
            assert ready.status_code == 200, "Redis down must not take the instance out"
            status = _bounded(client, "GET", "/v1/status", headers={"Authorization": ""}).json()
            components = {c["name"]: c["status"] for c in status["components"]}
            assert components["cache"] == "degraded", components  # the fault is real
            _bounded(client, "GET", "/v1/documents")

            netns_redis.heal()
            deadline = time.monotonic() + 20
            while True:
                status = client.get("/v1/status", headers={"Authorization": ""}).json()
                components = {c["name"]: c["status"] for c in status["components"]}
                if components.get("cache") == "operational":
                    break
                assert time.monotonic() < deadline, f"Redis not back in use: {components}"
                _questions(client, 1, "heal")
                time.sleep(0.5)
            assert _questions(client, 2, "after") == [200, 200]
    finally:
        running.stop()


@pytest.mark.parametrize(("delay_ms", "loss"), [(300, 0.0), (50, 30.0)])
def test_slow_or_lossy_path_to_redis_answers_within_bounds(
    tmp_path: Path, netns_redis: NamespacedRedis, delay_ms: int, loss: float
) -> None:
    reason = netns_redis.netem_missing()
    if reason:
        pytest.skip(reason)
    running = _serve(tmp_path, netns_redis)
    live = running.start()
    try:
        with live.client() as client:
            client.post("/v1/documents", files={"files": ("pool.md", DOC, "text/markdown")})
            netns_redis.netem(delay_ms=delay_ms, loss_percent=loss)
            statuses = _questions(client, 6, f"netem {delay_ms} {loss}")
            assert statuses.count(200) >= 4, statuses
            netns_redis.heal()
            assert _questions(client, 2, "healed") == [200, 200]
    finally:
        running.stop()
