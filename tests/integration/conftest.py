"""Shared fixtures of the integration tests: one real ONNX embedder for the whole session
(loading the model costs about half a second; keeping one keeps the suite fast)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ragops.providers.embedder.onnx_minilm import OnnxMiniLMEmbedder


@pytest.fixture(scope="session")
def onnx_embedder() -> Iterator[OnnxMiniLMEmbedder]:
    """The real all-MiniLM-L6-v2 int8 embedder, loaded once. Its async methods hand work to
    threads and hold no event-loop state, so every test's loop may use it."""
    embedder = OnnxMiniLMEmbedder(batch_size=16)
    embedder.load()
    yield embedder
