"""Embedding provider fallback against a real OpenAI-compatible embeddings server on loopback.

When the remote embedder fails, questions are embedded by the bundled local model if its
vectors fit the collection: the answer comes back 200 and says it is degraded (body,
`X-Degraded: embedding_fallback`, metric), `/v1/status` shows the embeddings as degraded,
documents (which are stored) are refused with 503 + `Retry-After`, and once the remote model
answers again everything is back without a restart. With vectors of another size there is
no fallback: questions get 503 + `Retry-After` until the remote model is back.

The remote server of the first test serves the local model's own vectors (as a TEI server
running all-MiniLM-L6-v2 would), so the fallback's answers are the right ones.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from ragops.providers.embedder.onnx_minilm import OnnxMiniLMEmbedder
from tests.conftest import LiveServer, RunningServer, make_settings
from tests.fakes.llm import FakeLLMServer

DOC = b"# Pool\n\nThe database pool keeps five connections open and grows to twenty.\n"
QUESTION = "How many connections does the database pool keep open?"
REPHRASED = "How many open connections does the database pool keep?"  # not in the answer cache
OTHER = b"# Other\n\nA second document.\n"
RETRY = 5.0  # long enough for the asserts between two questions on a busy machine


def _metric(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _status(client: httpx.Client) -> dict[str, str]:
    body = client.get("/v1/status", headers={"Authorization": ""}).json()
    return {component["name"]: component["status"] for component in body["components"]}


def _upload(client: httpx.Client, name: str = "pool.md", data: bytes = DOC) -> httpx.Response:
    return client.post("/v1/documents", files={"files": (name, data, "text/markdown")})


@pytest.fixture
def embeddings_server(tmp_path: Path) -> Iterator[FakeLLMServer]:
    server = FakeLLMServer(model="all-minilm-l6-v2").start()
    try:
        yield server
    finally:
        server.stop()


def _serve(tmp_path: Path, remote: FakeLLMServer, **overrides: object) -> RunningServer:
    settings = make_settings(
        tmp_path / "var",
        embedder="openai",
        embedding_base_url=remote.base_url,
        embedding_model="all-minilm-l6-v2",
        embedding_retry_seconds=RETRY,
        readiness_cache_seconds=0.0,
        dependency_check_seconds=0.0,
        rate_limit_chat="1000/minute",
        rate_limit_per_ip="1000/minute",
        **overrides,
    )
    return RunningServer(settings)


def test_questions_fall_back_to_the_local_model_when_the_sizes_match(
    tmp_path: Path, embeddings_server: FakeLLMServer
) -> None:
    model = OnnxMiniLMEmbedder()

    async def same_model(texts: list[str]) -> list[list[float]]:
        return [list(map(float, row)) for row in await model.embed_documents(texts)]

    embeddings_server.state.embed = same_model
    running = _serve(tmp_path, embeddings_server, embedding_dimensions=384)
    live: LiveServer = running.start()
    try:
        with live.client() as client:
            assert _upload(client).status_code == 200
            healthy = client.post("/v1/chat", json={"question": QUESTION})
            assert healthy.status_code == 200 and healthy.json()["degraded"] is False
            assert "five" in healthy.json()["answer"]
            assert _status(client)["embeddings"] == "operational"

            # The remote embedder fails (every call, retries included).
            before = _metric("ragops_degraded_responses_total", {"reason": "embedding_fallback"})
            embeddings_server.fail_next(500, n=10_000)
            served = client.post("/v1/chat", json={"question": REPHRASED})
            body = served.json()
            assert served.status_code == 200, served.text
            assert served.headers["X-Degraded"] == "embedding_fallback"
            assert body["degraded"] is True
            assert body["fallback_reason"].startswith("embedding_fallback: ")
            assert "five" in body["answer"] and body["citations"], body
            assert (
                _metric("ragops_degraded_responses_total", {"reason": "embedding_fallback"})
                == before + 1
            )
            assert _metric("ragops_fallback_active", {"component": "embedder"}) == 1
            assert _status(client)["embeddings"] == "degraded"

            # Within the retry wait the remote model is not asked again.
            asked = len(embeddings_server.state.requests)
            again = client.post("/v1/chat", json={"question": REPHRASED})
            assert again.headers.get("X-Degraded") == "embedding_fallback"
            assert again.headers.get("X-Cache") == "miss"  # degraded answers are not cached
            assert len(embeddings_server.state.requests) == asked

            # Documents are stored: never embedded by another model. 503, nothing stored.
            refused = _upload(client, "other.md", OTHER)
            assert refused.status_code == 503, refused.text
            assert int(refused.headers["Retry-After"]) > 0
            listed = client.get("/v1/documents").json()
            assert [d["title"] for d in listed["items"]] == ["Pool"], listed

            # The remote model is back: after the retry wait, answers are whole again.
            embeddings_server.reset()
            time.sleep(RETRY + 0.2)
            recovered = client.post("/v1/chat", json={"question": REPHRASED})
            assert recovered.status_code == 200
            assert recovered.json()["degraded"] is False, recovered.text
            assert "X-Degraded" not in recovered.headers
            assert _metric("ragops_fallback_active", {"component": "embedder"}) == 0
            assert _status(client)["embeddings"] == "operational"
            assert _upload(client, "other.md", OTHER).status_code == 200
    finally:
        running.stop()


def test_without_a_fitting_local_model_questions_get_503_until_the_remote_is_back(
    tmp_path: Path, embeddings_server: FakeLLMServer
) -> None:
    running = _serve(tmp_path, embeddings_server)  # 32-dimension vectors: the local has 384
    live = running.start()
    try:
        with live.client() as client:
            assert _upload(client).status_code == 200
            assert client.post("/v1/chat", json={"question": QUESTION}).status_code == 200

            embeddings_server.fail_next(500, n=10_000)
            started = time.monotonic()
            refused = client.post("/v1/chat", json={"question": QUESTION + " Really?"})
            assert refused.status_code == 503, refused.text
            assert int(refused.headers["Retry-After"]) > 0
            assert refused.json()["error"]["code"] == "service_unavailable"
            assert "do not fit" in refused.json()["error"]["message"]
            # within the retry wait: refused at once, without asking the remote model
            asked = len(embeddings_server.state.requests)
            fast = client.post("/v1/chat", json={"question": QUESTION + " Sure?"})
            assert fast.status_code == 503
            assert len(embeddings_server.state.requests) == asked
            assert time.monotonic() - started < 30

            embeddings_server.reset()
            time.sleep(RETRY + 0.2)
            back = client.post("/v1/chat", json={"question": QUESTION + " Now?"})
            assert back.status_code == 200 and back.json()["degraded"] is False, back.text
    finally:
        running.stop()
