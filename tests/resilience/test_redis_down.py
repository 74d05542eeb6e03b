"""Redis down, as the RedisDown runbook says: every instance stays ready (reported
`degraded`), rate limits are enforced per instance, the cache is bypassed, and everything
recovers by itself when Redis is back."""

from __future__ import annotations

import time
from pathlib import Path

import redis

from ragops.providers.cache.factory import create_cache
from tests.conftest import RunningServer, make_settings
from tests.resilience.servers import RedisProcess


def _wait_for(check: object, seconds: float = 10.0) -> None:
    assert callable(check)
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.2)


def test_redis_down_keeps_instances_ready_and_limits_enforced(
    own_redis: RedisProcess, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path / "var",
        auth_enabled=False,
        redis_url=own_redis.url,
        rate_limit_per_ip="4/minute",
        readiness_cache_seconds=0.0,
        readiness_timeout_seconds=1.0,
    )
    running = RunningServer(settings)
    live = running.start()
    try:
        with live.client() as client:
            ready = client.get("/readyz")
            assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
            assert client.get("/v1/collections").status_code == 200
            shared = redis.Redis.from_url(own_redis.url)
            assert any(k.startswith(b"ragops-rl") for k in shared.keys("*")), "not shared"
            shared.close()

            own_redis.stop()
            degraded = client.get("/readyz")
            assert degraded.status_code == 200, degraded.text
            body = degraded.json()
            assert body["ready"] is True and body["status"] == "degraded"
            assert "redis_down" in body["reasons"]
            assert body["dependencies"]["redis"]["status"] == "down"

            started = time.monotonic()
            codes = [client.get("/v1/collections").status_code for _ in range(5)]
            assert codes == [200, 200, 200, 200, 429], codes  # per-instance counters
            assert time.monotonic() - started < 5, "requests waited on the dead Redis"

            own_redis.start()
            _wait_for(lambda: client.get("/readyz").json()["status"] == "ready")
            time.sleep(2.1)  # the limiter tries the shared storage again after 2 s
            assert client.get("/v1/collections").status_code == 200  # fresh shared count
            shared = redis.Redis.from_url(own_redis.url)
            assert any(k.startswith(b"ragops-rl") for k in shared.keys("*")), "not recovered"
            shared.close()
    finally:
        running.stop()


async def test_cache_is_bypassed_while_redis_is_down_and_recovers(
    own_redis: RedisProcess, tmp_path: Path
) -> None:
    cache = create_cache(make_settings(tmp_path / "var", redis_url=own_redis.url))
    try:
        await cache.set("answer", b"cached", 60)
        assert await cache.get("answer") == b"cached"

        own_redis.stop()
        started = time.monotonic()
        assert await cache.get("answer") is None  # a miss, not an error
        await cache.set("answer", b"other", 60)  # skipped, not an error
        assert await cache.delete_prefix("ans") == 0
        assert time.monotonic() - started < 3

        own_redis.start()  # empty: nothing was persisted
        deadline = time.monotonic() + 10
        while True:
            await cache.set("answer", b"again", 60)
            if await cache.get("answer") == b"again":
                break
            assert time.monotonic() < deadline, "the cache did not recover"
            time.sleep(0.3)
    finally:
        await cache.aclose()
