"""The ingestion cost budget: a per-document cap in word pieces (413), a per-tenant quota per
hour (429), and a graceful stop that a running ingest cannot block."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx

from tests.conftest import RAGOPS_CLI, RunningServer, free_port, make_settings
from tests.resilience.servers import RedisProcess

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()


def prose(words: int, seed: int = 1) -> bytes:
    """`words` words of sentences (one piece each, plus a full stop per sentence)."""
    rng = random.Random(seed)
    sentences = []
    for start in range(0, words, 12):
        sentences.append(" ".join(rng.choice(WORDS) for _ in range(min(12, words - start))) + ".")
    return "\n\n".join(sentences).encode()


def upload(client: httpx.Client, name: str, data: bytes) -> httpx.Response:
    return client.post("/v1/documents", files={"files": (name, data, "text/markdown")})


def test_document_cap_and_tenant_quota(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "var",
        auth_enabled=False,
        max_document_word_pieces=2_000,
        ingest_word_pieces_per_hour=3_000,
        rate_limit_ingest="100/minute",
    )
    running = RunningServer(settings)
    live = running.start()
    try:
        with live.client() as client:
            started = time.monotonic()
            big = upload(client, "big.md", prose(50_000))
            assert big.status_code == 413, big.text
            assert big.json()["error"]["code"] == "too_many_tokens"
            assert "2000" in big.json()["error"]["message"]
            assert time.monotonic() - started < 5  # refused before the expensive work

            first = upload(client, "one.md", prose(1_500, seed=2))  # ~1625 pieces
            assert first.status_code == 200, first.text
            second = upload(client, "two.md", prose(1_500, seed=3))  # would pass 3000
            assert second.status_code == 429, second.text
            error = second.json()["error"]
            assert error["code"] == "quota_exceeded" and "retry in" in error["message"]
            small = upload(client, "three.md", prose(500, seed=4))  # still fits the hour
            assert small.status_code == 200, small.text
            listed = client.get("/v1/documents").json()
            assert sorted(d["source"] for d in listed["items"]) == ["one.md", "three.md"]
    finally:
        running.stop()


def test_sigterm_is_not_blocked_by_a_running_ingest(tmp_path: Path) -> None:
    port = free_port()
    environment = {
        **os.environ,
        "RAGOPS_DATA_DIR": str(tmp_path / "var"),
        "RAGOPS_DEMO_CORPUS": "false",
        "RAGOPS_AUTH_ENABLED": "false",
        "RAGOPS_BOOTSTRAP_API_KEY": "false",  # pragma: allowlist secret
        "RAGOPS_LOG_LEVEL": "WARNING",
        "RAGOPS_PORT": str(port),
        "RAGOPS_SHUTDOWN_TIMEOUT_SECONDS": "3",
        "RAGOPS_MAX_DOCUMENT_WORD_PIECES": "0",
        "RAGOPS_INGEST_WORD_PIECES_PER_HOUR": "0",
    }
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen([RAGOPS_CLI, "serve"], env=environment, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "no start"
            time.sleep(0.2)

        def long_upload() -> None:
            try:
                with httpx.Client(base_url=base, timeout=120) as client:
                    upload(client, "long.md", prose(80_000))  # about half a minute of work
            except httpx.HTTPError:
                pass  # the connection ends with the server

        uploader = threading.Thread(target=long_upload, daemon=True)
        uploader.start()
        time.sleep(3)  # the ingest is running
        assert uploader.is_alive()
        stopped_at = time.monotonic()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        took = time.monotonic() - stopped_at
        assert took < 15, f"SIGTERM took {took:.1f} s"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
        log.close()


def test_tenant_quota_is_counted_in_redis_across_instances(own_redis: RedisProcess) -> None:
    """Two instances' quotas on one Redis share the tenant's hour (before the fix, every
    charge failed on the Redis client's options and fell back to per-instance counting)."""
    from ragops.documents.budget import IngestQuota
    from ragops.documents.errors import IngestError

    async def scenario() -> tuple[bool, bool, str]:
        uri = "async+" + own_redis.url
        first, second = IngestQuota(uri, 1000), IngestQuota(uri, 1000)
        try:
            await first.charge("a.md", "acme", 600)
            await second.charge("b.md", "other-tenant", 600)  # another tenant's hour
            try:
                await second.charge("c.md", "acme", 600)  # 1200 > 1000 across instances
            except IngestError as exc:
                refused = exc.code
            else:
                refused = ""
            return first.degraded, second.degraded, refused
        finally:
            await first.aclose()
            await second.aclose()

    first_degraded, second_degraded, refused = asyncio.run(scenario())
    assert (first_degraded, second_degraded) == (False, False)
    assert refused == "quota_exceeded"
