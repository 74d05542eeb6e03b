"""The offline ONNX MiniLM embedder on the real model: shape, unit norm, semantics, batching."""

from __future__ import annotations

import asyncio

import numpy as np

from ragops.providers.embedder import Embedder
from ragops.providers.embedder.onnx_minilm import DIMENSION, OnnxMiniLMEmbedder

SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "Stock markets fell sharply after the interest rate decision.",
]


def test_it_is_an_embedder(onnx_embedder: OnnxMiniLMEmbedder) -> None:
    assert isinstance(onnx_embedder, Embedder)
    assert onnx_embedder.dimension == DIMENSION == 384
    assert onnx_embedder.model_id == "all-minilm-l6-v2-int8"


async def test_shape_dtype_and_unit_norm(onnx_embedder: OnnxMiniLMEmbedder) -> None:
    vectors = await onnx_embedder.embed_documents(SENTENCES)
    assert vectors.shape == (len(SENTENCES), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = await onnx_embedder.embed_query("Who is eating?")
    assert query.shape == (384,)
    assert abs(float(np.linalg.norm(query)) - 1.0) < 1e-5


async def test_similar_sentences_score_higher_than_unrelated(
    onnx_embedder: OnnxMiniLMEmbedder,
) -> None:
    vectors = await onnx_embedder.embed_documents(SENTENCES)
    sims = vectors @ vectors.T
    assert sims[0, 1] > 0.6  # both about a man eating
    assert sims[0, 1] > sims[0, 2] + 0.3
    assert sims[0, 1] > sims[0, 4] + 0.3
    query = await onnx_embedder.embed_query("Why did share prices drop?")
    assert int(np.argmax(vectors @ query)) == 4


async def test_batching_equals_one_at_a_time(onnx_embedder: OnnxMiniLMEmbedder) -> None:
    texts = SENTENCES + ["word " * 400, "short", "a slightly longer sentence about proteins"]
    batched = await onnx_embedder.embed_documents(texts)
    single = np.stack([await onnx_embedder.embed_query(text) for text in texts])
    np.testing.assert_allclose(batched, single, atol=1e-4)
    tiny_batches = OnnxMiniLMEmbedder(batch_size=2, token_budget=64)
    np.testing.assert_allclose(await tiny_batches.embed_documents(texts), batched, atol=1e-4)


async def test_truncates_long_text_to_the_model_window(
    onnx_embedder: OnnxMiniLMEmbedder,
) -> None:
    head = "Insulin regulates glucose uptake in muscle and fat cells. " * 30  # > 256 tokens
    a, b = await onnx_embedder.embed_documents([head, head + "Unrelated tail. " * 200])
    np.testing.assert_allclose(a, b, atol=1e-5)


async def test_empty_input_and_concurrent_calls(onnx_embedder: OnnxMiniLMEmbedder) -> None:
    assert (await onnx_embedder.embed_documents([])).shape == (0, 384)
    results = await asyncio.gather(*(onnx_embedder.embed_query(s) for s in SENTENCES))
    expected = await onnx_embedder.embed_documents(SENTENCES)
    np.testing.assert_allclose(np.stack(results), expected, atol=1e-4)
