"""The int8-compute embedding graph (`int8_graph`) on the real model: built once into the
cache dir and reused, its products run as int8 `MatMulInteger`, its vectors agree with the
shipped graph's, and a graph that cannot be built falls back to the shipped one."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest

from ragops.config.settings import Settings
from ragops.providers.embedder.factory import create_embedder
from ragops.providers.embedder.onnx_minilm import OnnxMiniLMEmbedder

SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "Stock markets fell sharply after the interest rate decision.",
    "Insulin regulates glucose uptake in muscle and fat cells. " * 30,
]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="module")
def int8_embedder(cache_dir: Path) -> OnnxMiniLMEmbedder:
    embedder = OnnxMiniLMEmbedder(int8_compute=True, cache_dir=cache_dir)
    embedder.load()
    return embedder


def test_graph_is_built_once_with_int8_products(
    int8_embedder: OnnxMiniLMEmbedder, cache_dir: Path
) -> None:
    (built,) = cache_dir.glob("minilm-int8-compute-*.onnx")
    ops = [node.op_type for node in onnx.load(str(built)).graph.node]
    assert ops.count("MatMulInteger") == 36  # 6 layers x (q, k, v, out, 2 feed-forward)
    assert ops.count("MatMul") == 12  # only the attention products stay fp32
    assert "IsNaN" not in ops and "Where" in ops  # the softmax guards are gone, the mask stays
    stamp = built.stat().st_mtime_ns
    again = OnnxMiniLMEmbedder(int8_compute=True, cache_dir=cache_dir)
    again.load()
    assert built.stat().st_mtime_ns == stamp
    assert list(cache_dir.iterdir()) == [built]  # no build leftovers


async def test_vectors_agree_with_the_shipped_graph(
    int8_embedder: OnnxMiniLMEmbedder, onnx_embedder: OnnxMiniLMEmbedder
) -> None:
    fast = await int8_embedder.embed_documents(SENTENCES)
    exact = await onnx_embedder.embed_documents(SENTENCES)
    np.testing.assert_allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    assert float((fast * exact).sum(axis=1).min()) > 0.98
    query = await int8_embedder.embed_query("Why did share prices drop?")
    assert int(np.argmax(fast @ query)) == 3
    assert int8_embedder.model_id == onnx_embedder.model_id


async def test_unbuildable_graph_falls_back_to_the_shipped_one(
    tmp_path: Path, onnx_embedder: OnnxMiniLMEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the cache dir should be")
    embedder = OnnxMiniLMEmbedder(int8_compute=True, cache_dir=blocked)
    with caplog.at_level(logging.WARNING):
        vectors = await embedder.embed_documents(SENTENCES)
    assert "cannot build the int8 embedding graph" in caplog.text
    np.testing.assert_allclose(vectors, await onnx_embedder.embed_documents(SENTENCES), atol=1e-4)


def test_settings_choose_the_graph(tmp_path: Path) -> None:
    on = create_embedder(Settings(_env_file=None, data_dir=tmp_path, model_cache_dir=tmp_path))
    off = create_embedder(Settings(_env_file=None, data_dir=tmp_path, embedding_int8_compute=False))
    assert isinstance(on, OnnxMiniLMEmbedder) and isinstance(off, OnnxMiniLMEmbedder)
    assert on._int8_compute and on._cache_dir == tmp_path
    assert not off._int8_compute
