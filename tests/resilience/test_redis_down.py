"""Redis down, as the RedisDown runbook says: every instance stays ready (reported
`degraded`), rate limits are enforced per instance, the cache is bypassed, and everything
recovers by itself when Redis is back."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
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


def _submit_job(client: httpx.Client, name: str) -> str:
    body = f"# {name}\n\nThe {name} widget ships with a ten year warranty.".encode()
    response = client.post(
        "/v1/documents",
        params={"async": "true"},
        files=[("files", (f"{name}.md", body, "text/markdown"))],
        data={"collection": "jobs"},
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def _job_state(client: httpx.Client, job_id: str) -> str:
    state: str = client.get(f"/v1/jobs/{job_id}").json()["state"]
    return state


def _queue_depth(client: httpx.Client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("ragops_job_queue_depth "):
            return float(line.split()[1])
    raise AssertionError("ragops_job_queue_depth is not exported")


def test_background_jobs_run_again_after_a_redis_outage(
    own_redis: RedisProcess, tmp_path: Path
) -> None:
    """The Redis job queue's worker survives Redis going away: once Redis is back, a job
    queued on it runs (it used to stay queued until the instance restarted)."""
    settings = make_settings(
        tmp_path / "var", redis_url=own_redis.url, job_queue="redis", readiness_cache_seconds=0.0
    )
    running = RunningServer(settings)
    live = running.start()
    try:
        with live.client() as client:
            before = _submit_job(client, "before")
            _wait_for(lambda: _job_state(client, before) == "succeeded", 30)

            own_redis.stop()
            time.sleep(1.5)  # the worker polls the queue every 0.2 s and meets the outage
            own_redis.start()
            _wait_for(lambda: client.get("/readyz").json()["status"] == "ready")

            after = _submit_job(client, "after")
            _wait_for(lambda: _job_state(client, after) == "succeeded", 30)
    finally:
        running.stop()


def test_job_queue_depth_falls_back_to_zero_when_the_redis_queue_is_drained(
    own_redis: RedisProcess, tmp_path: Path
) -> None:
    """`ragops_job_queue_depth` counts jobs waiting in the shared Redis queue: once the worker
    took the only job, it is 0 again (it stayed at 1, the depth right after the enqueue)."""
    settings = make_settings(tmp_path / "var", redis_url=own_redis.url, job_queue="redis")
    running = RunningServer(settings)
    live = running.start()
    try:
        with live.client() as client:
            job = _submit_job(client, "depth")
            _wait_for(lambda: _job_state(client, job) == "succeeded", 30)
            _wait_for(lambda: _queue_depth(client) == 0.0, 5)
    finally:
        running.stop()
