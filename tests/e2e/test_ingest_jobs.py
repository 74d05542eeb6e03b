"""Background ingestion jobs over real HTTP: `POST /v1/documents?async=true`, progress at
`GET /v1/jobs/{id}`, cancellation, tenant isolation, and a shutdown that interrupts a job
which the next instance resumes, with the in-process queue (SQLite) and the Redis queue
shared by two instances (PostgreSQL)."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.conftest import (
    REDIS_URL,
    LiveServer,
    RunningServer,
    create_api_key,
    make_settings,
    pg_database,
    run_cli,
)

WORDS = (
    "pool connection timeout replica shard index vector cache token budget tenant queue "
    "worker backup restore rollback release deploy metric alert runbook latency throughput "
    "memory disk network packet socket thread process kernel schedule retry circuit breaker"
).split()


def _doc(i: int, words: int) -> bytes:
    rng = random.Random(i)
    sentences = []
    for _ in range(words // 12):
        sentences.append(" ".join(rng.choice(WORDS) for _ in range(12)).capitalize() + ".")
    return f"# Notes {i}\n\n".encode() + " ".join(sentences).encode()


def _files(count: int, words: int = 60, prefix: str = "doc") -> list[tuple[str, bytes, str]]:
    return [(f"{prefix}{i}.md", _doc(i, words), "text/markdown") for i in range(count)]


def _submit(client: httpx.Client, files: list[tuple[str, bytes, str]]) -> dict[str, Any]:
    response = client.post(
        "/v1/documents",
        params={"async": "true"},
        files=[("files", (name, body, ctype)) for name, body, ctype in files],
        data={"collection": "jobs"},
    )
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    assert response.headers["Location"] == f"/v1/jobs/{job['id']}"
    return job


def _wait(client: httpx.Client, job_id: str, until: Any, timeout: float = 240.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if until(job):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


def _finished(job: dict[str, Any]) -> bool:
    return job["state"] in ("succeeded", "failed", "cancelled")


def _documents(client: httpx.Client) -> set[str]:
    body = client.get("/v1/documents", params={"collection": "jobs", "limit": 500}).json()
    return {d["source"] for d in body["items"]}


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Any:
    return make_settings(tmp_path / "var", job_concurrency=1)


def test_an_async_upload_runs_as_a_job_with_progress(serve_app: Any, sqlite_settings: Any) -> None:
    server: LiveServer = serve_app(sqlite_settings)
    other_key = create_api_key(sqlite_settings, tenant="other", name="other")
    with server.client() as client, server.client(authenticated=False) as anonymous:
        files = _files(3)
        queued = _submit(client, files)
        assert queued["progress"]["documents_total"] == 3
        assert queued["state"] in ("queued", "running")

        job = _wait(client, queued["id"], _finished)
        assert job["state"] == "succeeded"
        assert job["attempts"] == 1
        assert job["progress"]["documents_done"] == 3
        assert job["progress"]["documents_failed"] == 0
        assert job["progress"]["chunks_done"] >= 3
        assert [r["status"] for r in job["results"]] == ["created"] * 3
        assert _documents(client) == {name for name, _, _ in files}
        assert [j["id"] for j in client.get("/v1/jobs").json()["jobs"]] == [job["id"]]

        finished = client.delete(f"/v1/jobs/{job['id']}")
        assert finished.status_code == 409
        assert finished.json()["error"]["code"] == "job_finished"

        # another tenant cannot see or cancel it
        foreign = {"Authorization": f"Bearer {other_key}"}
        assert anonymous.get(f"/v1/jobs/{job['id']}", headers=foreign).status_code == 404
        assert anonymous.delete(f"/v1/jobs/{job['id']}", headers=foreign).status_code == 404
        assert anonymous.get("/v1/jobs", headers=foreign).json() == {"jobs": []}
        assert client.get(f"/v1/jobs/{uuid.uuid4()}").status_code == 404

        # the synchronous API is unchanged
        sync = client.post(
            "/v1/documents",
            files=[("files", ("sync.md", _doc(99, 60), "text/markdown"))],
            data={"collection": "jobs"},
        )
        assert sync.status_code == 200
        assert sync.json()["results"][0]["status"] == "created"


def test_a_bad_file_fails_alone_and_an_oversized_upload_queues_nothing(
    serve_app: Any, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path / "var", max_upload_bytes=4096)
    server = serve_app(settings)
    with server.client() as client:
        job = _submit(client, [*_files(1), ("image.png", b"\x89PNG\r\n\x1a\n....", "image/png")])
        job = _wait(client, job["id"], _finished)
        assert job["state"] == "succeeded"
        assert [r["status"] for r in job["results"]] == ["created", "error"]
        assert job["progress"]["documents_failed"] == 1

        big = client.post(
            "/v1/documents",
            params={"async": "true"},
            files=[("files", ("big.md", b"word " * 2000, "text/markdown"))],
        )
        assert big.status_code == 413
        assert len(client.get("/v1/jobs").json()["jobs"]) == 1


def test_cancelling_a_waiting_and_a_running_job(serve_app: Any, sqlite_settings: Any) -> None:
    server = serve_app(sqlite_settings)
    with server.client() as client:
        running = _submit(client, _files(48, words=1500, prefix="long"))
        waiting = _submit(client, _files(2, prefix="later"))

        cancelled = client.delete(f"/v1/jobs/{waiting['id']}")
        assert cancelled.status_code == 200
        assert cancelled.json()["state"] == "cancelled"

        _wait(client, running["id"], lambda j: j["progress"]["documents_done"] >= 16)
        asked = client.delete(f"/v1/jobs/{running['id']}").json()
        assert asked["cancel_requested"] is True
        job = _wait(client, running["id"], _finished, timeout=60)
        assert job["state"] == "cancelled"
        assert 16 <= job["progress"]["documents_done"] < 48

        time.sleep(1.5)  # a cancelled job never runs: the waiting one ingested nothing
        assert client.get(f"/v1/jobs/{waiting['id']}").json()["progress"]["documents_done"] == 0
        stored = _documents(client)
        assert not any(name.startswith("later") for name in stored)
        assert 16 <= len(stored) < 48


def test_a_job_interrupted_by_shutdown_resumes_on_the_next_start(sqlite_settings: Any) -> None:
    first = RunningServer(sqlite_settings)
    live = first.start()
    files = _files(40, words=1000, prefix="resume")
    with live.client() as client:
        job = _submit(client, files)
        _wait(client, job["id"], lambda j: j["progress"]["documents_done"] >= 16)
    started = time.monotonic()
    first.stop()
    assert not first.thread.is_alive()
    assert time.monotonic() - started < 20  # the job does not hold the shutdown

    second = RunningServer(sqlite_settings)
    live = second.start()
    try:
        with live.client() as client:
            done = _wait(client, job["id"], _finished)
            assert done["state"] == "succeeded"
            assert done["attempts"] == 2  # interrupted once, then resumed
            assert done["progress"]["documents_done"] == 40
            assert len(done["results"]) == 40
            assert _documents(client) == {name for name, _, _ in files}
    finally:
        second.stop()


@pytest.fixture
def shared_redis_settings(tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    """Two instances' settings: one PostgreSQL database, one Redis queue, own data dirs."""
    queue = f"ragops-test:jobs:{uuid.uuid4().hex[:8]}"
    with pg_database() as url:
        common = {
            "database_url": url,
            "redis_url": REDIS_URL,
            "job_queue": "redis",
            "job_queue_name": queue,
        }
        yield (
            make_settings(tmp_path / "a", **common),
            make_settings(tmp_path / "b", auto_migrate=False, **common),
        )
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=f"{queue}*"):
        client.delete(key)
    for key in client.scan_iter(match="arq:*ingest:*"):
        client.delete(key)
    client.close()


def test_redis_queue_jobs_are_seen_by_every_instance_and_survive_one_stopping(
    shared_redis_settings: tuple[Any, Any],
) -> None:
    settings_a, settings_b = shared_redis_settings
    a = RunningServer(settings_a)
    live_a = a.start()
    files = _files(40, words=1000, prefix="shared")
    b: RunningServer | None = None
    try:
        with live_a.client() as client:
            job = _submit(client, files)
            _wait(client, job["id"], lambda j: j["progress"]["documents_done"] >= 16)
        b = RunningServer(settings_b)
        live_b = b.start()
        a.stop()  # the job goes back to the Redis queue; instance b takes it over
        with live_b.client(headers={"Authorization": f"Bearer {live_a.api_key}"}) as client:
            done = _wait(client, job["id"], _finished)
            assert done["state"] == "succeeded"
            assert done["attempts"] == 2  # interrupted on a, resumed on b
            assert done["progress"]["documents_done"] == 40
            assert [r["filename"] for r in done["results"]] == [n for n, _, _ in files]
    finally:
        a.stop()
        if b is not None:
            b.stop()


def test_cli_ingests_through_background_jobs_with_progress(
    serve_app: Any, sqlite_settings: Any, tmp_path: Path
) -> None:
    server: LiveServer = serve_app(sqlite_settings)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, body, _ in _files(5, prefix="cli"):
        (corpus / name).write_bytes(body)
    (corpus / "broken.pdf").write_bytes(b"not a pdf")
    elsewhere = tmp_path / "elsewhere"
    key = server.api_key or ""
    result = run_cli(
        elsewhere, "ingest", str(corpus), "-c", "jobs", "--background",
        "--url", server.base_url, "--api-key", key, check=False,
    )  # fmt: skip
    assert result.returncode == 1  # one file could not be ingested
    assert "1 of 6 files were not ingested" in result.stderr
    assert result.stdout.count("created") == 5
    with server.client() as client:
        jobs = client.get("/v1/jobs").json()["jobs"]
        assert [j["state"] for j in jobs] == ["succeeded"]
        assert _documents(client) == {f"cli{i}.md" for i in range(5)}

    alone = run_cli(elsewhere, "ingest", str(corpus), "--background", check=False)
    assert alone.returncode == 1 and "--background needs a running server" in alone.stderr
