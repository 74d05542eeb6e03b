"""The embedded Qdrant Edge store beyond the shared store contract: its lock between real
processes, persistence and the vector size check on reopening, payload indexes, the HNSW
build (explicit, and started by the write that crosses the threshold), the factory's choice."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ragops.config.settings import Settings
from ragops.providers.embedder.onnx_minilm import OnnxMiniLMEmbedder
from ragops.providers.vectorstore import ChunkPoint, SearchScope
from ragops.providers.vectorstore.base import VectorStoreError
from ragops.providers.vectorstore.edge import PAYLOAD_INDEXES, EdgeVectorStore
from ragops.providers.vectorstore.factory import create_vector_store
from ragops.providers.vectorstore.qdrant import QdrantVectorStore
from ragops.retrieval.sparse import Bm25Encoder

DIM = 8
ENCODER = Bm25Encoder(avg_len=5.0)
OPEN_IN_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from ragops.config.settings import Settings
    from ragops.providers.vectorstore.base import SearchScope, VectorStoreError
    from ragops.providers.vectorstore.edge import EdgeVectorStore

    async def main() -> int:
        settings = Settings(_env_file=None, data_dir=Path(sys.argv[1]))
        try:
            store = EdgeVectorStore(settings, model_id="m", dimension=8)
        except VectorStoreError as exc:
            print(exc)
            return 3
        await store.ensure_ready(8)
        print("count", await store.count(SearchScope("t")))
        await store.aclose()
        return 0

    sys.exit(asyncio.run(main()))
    """
)


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "var", **overrides)


def points(n: int, *, tenant: str = "t", seed: int = 0) -> list[ChunkPoint]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [
        ChunkPoint(
            id=str(uuid.uuid4()),
            dense=vectors[i],
            sparse=ENCODER.encode_document(f"word{i % 7} common text"),
            payload={"tenant_id": tenant, "collection": "c", "document_id": f"d{i}", "version": 1},
        )
        for i in range(n)
    ]


def open_in_child(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", OPEN_IN_CHILD, str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_a_second_process_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    store = EdgeVectorStore(settings, model_id="m", dimension=DIM)
    await store.ensure_ready(DIM)
    await store.upsert(points(3))
    refused = open_in_child(settings.data_dir)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert f"is in use by another ragops process (pid {os.getpid()})" in refused.stdout
    assert str(settings.edge_path) in refused.stdout
    # The refused open touched nothing: this process still writes, flushes and closes.
    await store.delete_document("t", "d0")
    assert await store.count(SearchScope("t")) == 2
    await store.aclose()

    reopened = open_in_child(settings.data_dir)
    assert reopened.returncode == 0, reopened.stdout + reopened.stderr
    assert "count 2" in reopened.stdout


async def test_reopening_with_another_vector_size_is_refused(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    store = EdgeVectorStore(settings, model_id="m", dimension=DIM)
    await store.ensure_ready(DIM)
    await store.aclose()
    with pytest.raises(VectorStoreError, match="closed"):
        await store.count(SearchScope("t"))
    # Same collection directory (same name), different size: the engine refuses the config.
    (settings.edge_path / "ragops_chunks__m_4").symlink_to(settings.edge_path / store.name)
    other = EdgeVectorStore(settings, model_id="m", dimension=4)
    try:
        with pytest.raises(VectorStoreError, match="vector size"):
            await other.ensure_ready(4)
    finally:
        await other.aclose()


async def test_payload_indexes_and_explicit_index_build(tmp_path: Path) -> None:
    store = EdgeVectorStore(settings_for(tmp_path), model_id="m", dimension=DIM)
    await store.ensure_ready(DIM)
    try:
        stored = points(300) + points(50, tenant="u", seed=1)
        await store.upsert(stored)
        shard = store._opened()  # noqa: SLF001 - the engine's own view of its indexes
        assert set(shard.info().payload_schema) == set(PAYLOAD_INDEXES)
        query = stored[10].dense
        scope = SearchScope("t", collection="c")
        before = [h.id for h in await store.search_dense(query, scope, 5)]
        await store.optimize()
        after = [h.id for h in await store.search_dense(query, scope, 5)]
        assert before[0] == after[0] == stored[10].id
        assert await store.count(SearchScope("u")) == 50
    finally:
        await store.aclose()


async def test_the_write_crossing_the_threshold_starts_a_build(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(tmp_path, edge_index_threshold=100)
    store = EdgeVectorStore(settings, model_id="m", dimension=DIM)
    await store.ensure_ready(DIM)
    caplog.set_level(logging.INFO, logger="ragops.providers.vectorstore.edge")
    await store.upsert(points(60))
    assert "building the vector index" not in caplog.text
    await store.upsert(points(60, seed=2))
    await store.aclose()  # waits for the build the second write started
    assert "building the vector index" in caplog.text
    assert "vector index of ragops_chunks__m_8 built" in caplog.text


async def test_the_factory_picks_the_engine_by_qdrant_url(tmp_path: Path) -> None:
    embedder = OnnxMiniLMEmbedder()
    embedded = create_vector_store(settings_for(tmp_path), embedder)
    assert isinstance(embedded, EdgeVectorStore)
    await embedded.aclose()
    served = create_vector_store(settings_for(tmp_path, qdrant_url="http://127.0.0.1:9"), embedder)
    try:
        assert isinstance(served, QdrantVectorStore)
        assert not settings_for(tmp_path).qdrant_path.exists()  # local mode never opened
        with pytest.raises(VectorStoreError, match="unreachable"):
            await served.ping()
    finally:
        await served.aclose()
