"""The OpenAI-compatible embedder with the real `openai` client against a tiny real HTTP
server on 127.0.0.1 (FastAPI under uvicorn in a thread) that serves `/v1/embeddings`."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ragops.config.settings import Settings
from ragops.providers.embedder import Embedder
from ragops.providers.embedder.base import EmbedderError
from ragops.providers.embedder.factory import create_embedder, resolve_dimension
from ragops.providers.embedder.openai_api import OpenAIEmbedder
from ragops.providers.vectorstore.factory import create_vector_store

DIM = 8


def fake_vector(text: str) -> list[float]:
    """Deterministic, deliberately not unit-length vector of a text."""
    digest = hashlib.sha256(text.encode()).digest()
    return [float(b) - 100.0 for b in digest[:DIM]]


@dataclass
class FakeEmbeddingServer:
    base_url: str
    requests: list[dict[str, Any]] = field(default_factory=list)


def build_app(record: list[dict[str, Any]]) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> JSONResponse:
        body = await request.json()
        record.append({"body": body, "auth": request.headers.get("authorization")})
        if body["model"] == "missing-model":
            return JSONResponse(
                {"error": {"message": "model not found", "type": "invalid_request_error"}},
                status_code=404,
            )
        inputs = body["input"]
        data = [
            {"object": "embedding", "index": i, "embedding": fake_vector(text)}
            for i, text in enumerate(inputs)
        ]
        if body["model"] == "short-model":
            data = data[:-1]
        data.reverse()  # servers may answer out of order: the index field decides
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            }
        )

    return app


@pytest.fixture(scope="module")
def server() -> Iterator[FakeEmbeddingServer]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    record: list[dict[str, Any]] = []
    config = uvicorn.Config(build_app(record), host="127.0.0.1", port=port, log_config=None)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    yield FakeEmbeddingServer(base_url=f"http://127.0.0.1:{port}/v1", requests=record)
    uv.should_exit = True
    thread.join(timeout=10)


def make(server: FakeEmbeddingServer, **kwargs: Any) -> OpenAIEmbedder:
    values: dict[str, Any] = {
        "model": "test-embed",
        "base_url": server.base_url,
        "api_key": "sk-test",
        "max_retries": 0,
        "timeout": 10.0,
    }
    values.update(kwargs)
    return OpenAIEmbedder(**values)


async def test_embeds_normalises_and_learns_the_dimension(server: FakeEmbeddingServer) -> None:
    embedder = make(server)
    try:
        assert embedder.model_id == "openai-test-embed"
        with pytest.raises(EmbedderError, match="unknown"):
            _ = embedder.dimension
        assert await embedder.probe() == DIM
        assert isinstance(embedder, Embedder)
        texts = ["alpha", "beta", "gamma"]
        vectors = await embedder.embed_documents(texts)
        assert vectors.shape == (3, DIM) and vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
        expected = np.asarray(fake_vector("beta"), dtype=np.float32)
        np.testing.assert_allclose(vectors[1], expected / np.linalg.norm(expected), atol=1e-6)
        query = await embedder.embed_query("gamma")
        np.testing.assert_allclose(query, vectors[2], atol=1e-6)
        assert server.requests[-1]["auth"] == "Bearer sk-test"
    finally:
        await embedder.aclose()


async def test_batches_requests_and_keeps_order(server: FakeEmbeddingServer) -> None:
    embedder = make(server, batch_size=3, dimension=DIM)
    try:
        before = len(server.requests)
        texts = [f"text {i}" for i in range(7)] + [""]
        vectors = await embedder.embed_documents(texts)
        sent = [r["body"]["input"] for r in server.requests[before:]]
        assert sorted(len(batch) for batch in sent) == [2, 3, 3]
        flat = [text for batch in sent for text in batch]
        assert " " in flat and "" not in flat  # the empty text went out as a space
        for i in range(7):
            single = await embedder.embed_query(f"text {i}")
            np.testing.assert_allclose(vectors[i], single, atol=1e-6)
        assert (await embedder.embed_documents([])).shape == (0, DIM)
    finally:
        await embedder.aclose()


async def test_errors_become_embedder_errors(server: FakeEmbeddingServer) -> None:
    for kwargs, pattern in (
        ({"model": "missing-model"}, "HTTP 404"),
        ({"model": "short-model"}, "returned 1 vectors for 2 texts"),
        ({"dimension": DIM * 2}, "expected 16"),
    ):
        embedder = make(server, **kwargs)
        try:
            with pytest.raises(EmbedderError, match=pattern):
                await embedder.embed_documents(["one", "two"])
        finally:
            await embedder.aclose()
    unreachable = make(server, base_url="http://127.0.0.1:9/v1", timeout=2.0)
    try:
        with pytest.raises(EmbedderError, match="failed"):
            await unreachable.embed_query("hello")
    finally:
        await unreachable.aclose()


async def test_factories_use_the_settings(server: FakeEmbeddingServer, tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path / "var",
        embedder="openai",
        embedding_base_url=server.base_url,
        embedding_api_key="sk-from-settings",
        embedding_model="test-embed",
        embedding_batch_size=2,
    )
    embedder = create_embedder(settings)
    store = create_vector_store(settings, embedder)
    try:
        assert isinstance(embedder, OpenAIEmbedder)
        dimension = await resolve_dimension(embedder)
        assert dimension == DIM == embedder.dimension
        await store.ensure_ready(dimension)
        assert store.name == "ragops_chunks__openai-test-embed_8"
        assert server.requests[-1]["auth"] == "Bearer sk-from-settings"
    finally:
        await embedder.aclose()
        await store.aclose()
