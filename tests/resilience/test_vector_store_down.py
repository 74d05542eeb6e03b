"""Vector store down, for real: ragops talks HTTP to a Qdrant REST server on loopback
(`tests/fakes/qdrant_server.py`) that the test stops and starts again.

While it is stopped, questions and uploads answer 503 with `Retry-After` at once (never a 500,
never a hang), nothing is half-stored, readiness is false (`vector_store_down`) and the status
page shows the vector store as down; once it is back, everything works again without a
restart.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunningServer, make_settings
from tests.fakes.qdrant_server import QdrantRestServer

DOC = b"# Pool\n\nThe database pool keeps five connections open and grows to twenty.\n"
OTHER = b"# Backups\n\nBackups run every night at two.\n"
QUESTION = {"question": "How many connections does the database pool keep open?"}


@pytest.fixture
def qdrant() -> Iterator[QdrantRestServer]:
    server = QdrantRestServer().start()
    try:
        yield server
    finally:
        server.close()


def _upload(client: httpx.Client, name: str, data: bytes) -> httpx.Response:
    return client.post("/v1/documents", files={"files": (name, data, "text/markdown")})


def _sources(client: httpx.Client) -> set[str]:
    return {d["source"] for d in client.get("/v1/documents").json()["items"]}


def test_vector_store_down_answers_503_with_retry_after_and_recovers(
    tmp_path: Path, qdrant: QdrantRestServer
) -> None:
    settings = make_settings(
        tmp_path / "var",
        qdrant_url=qdrant.url,
        readiness_cache_seconds=0.0,
        dependency_check_seconds=0.0,
        answer_cache=False,  # every question reaches the store
        rate_limit_chat="1000/minute",
        rate_limit_per_ip="1000/minute",
    )
    running = RunningServer(settings)
    live = running.start()
    try:
        with live.client() as client:
            assert _upload(client, "pool.md", DOC).status_code == 200
            answered = client.post("/v1/chat", json=QUESTION)
            assert answered.status_code == 200 and "five" in answered.json()["answer"]
            assert client.get("/readyz").status_code == 200

            qdrant.stop()
            started = time.monotonic()
            refused = client.post("/v1/chat", json=QUESTION)
            assert refused.status_code == 503, refused.text
            assert int(refused.headers["Retry-After"]) > 0
            assert refused.json()["error"]["code"] == "service_unavailable"
            failed_upload = _upload(client, "backups.md", OTHER)
            assert failed_upload.status_code == 503, failed_upload.text
            assert int(failed_upload.headers["Retry-After"]) > 0
            assert time.monotonic() - started < 10, "an outage must not make requests hang"
            assert _sources(client) == {"pool.md"}  # the failed upload left nothing behind

            ready = client.get("/readyz")
            assert ready.status_code == 503 and "vector_store_down" in ready.json()["reasons"]
            status = client.get("/v1/status", headers={"Authorization": ""}).json()
            components = {c["name"]: c["status"] for c in status["components"]}
            assert components["vector_store"] == "down" and status["status"] == "down"

            qdrant.start()  # same port, same data
            assert client.get("/readyz").status_code == 200
            back = client.post("/v1/chat", json=QUESTION)
            assert back.status_code == 200 and "five" in back.json()["answer"], back.text
            assert _upload(client, "backups.md", OTHER).status_code == 200
            assert _sources(client) == {"pool.md", "backups.md"}
    finally:
        running.stop()
