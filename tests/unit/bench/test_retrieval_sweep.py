"""The in-memory replay of `bench/retrieval_sweep.py`: its BM25 scores are the encoder's
weights times the stores' IDF, its dense search is exact cosine, and its feedback vector
moves toward the feedback documents."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ragops.retrieval.sparse import Bm25Encoder
from tests.unit.bench import load_bench

sweep = load_bench("retrieval_sweep")

DOCS = {
    "a": "Vitamin D deficiency raises the risk of fractures in older adults.",
    "b": "Fractures heal slowly; fractures of the hip are the most common fractures.",
    "c": "Gene expression in yeast responds to heat shock.",
}


def test_bm25_replay_is_encoder_weight_times_store_idf() -> None:
    index = sweep.Bm25Index(list(DOCS), list(DOCS.values()), 1.2, 0.75)
    ranking = index.search("fractures in older adults", 10)
    encoder = Bm25Encoder(k1=1.2, b=0.75, delta=0.0)  # the sweep replays classic BM25
    query = encoder.encode_query("fractures in older adults")
    vectors = {doc: encoder.encode_document(text) for doc, text in DOCS.items()}
    n = len(DOCS)
    expected: dict[str, float] = {}
    for doc, vector in vectors.items():
        weights = dict(zip(vector.indices, vector.values, strict=True))
        total = 0.0
        for term in query.indices:
            holders = sum(term in v.indices for v in vectors.values())
            if term in weights:
                total += math.log((n - holders + 0.5) / (holders + 0.5) + 1.0) * weights[term]
        if total > 0:
            expected[doc] = total
    assert dict(ranking) == pytest.approx(expected)
    assert [doc for doc, _ in ranking] == sorted(expected, key=lambda d: -expected[d])
    assert "c" not in dict(ranking)  # shares no term with the query
    assert index.search("fractures in older adults", 1) == ranking[:1]  # the limit cuts


def test_dense_search_is_exact_cosine_best_first() -> None:
    corpus = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], dtype=np.float32)
    query = np.array([0.8, 0.6], dtype=np.float32)
    got = sweep.dense_search(corpus, ["x", "y", "z"], query, 2)
    assert [item for item, _ in got] == ["y", "x"]
    assert got[0][1] == pytest.approx(0.96) and got[1][1] == pytest.approx(0.8)


def test_rocchio_moves_the_query_toward_the_feedback_mean() -> None:
    corpus = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    rows = {"x": 0, "y": 1}
    query = np.array([1.0, 0.0], dtype=np.float32)
    moved = sweep.rocchio(corpus, rows, query, [("y", 1.0), ("x", 0.5)], 1, 1.0)
    assert moved == pytest.approx(np.array([1.0, 1.0]) / math.sqrt(2))
    assert float(np.linalg.norm(moved)) == pytest.approx(1.0)
    # No feedback documents, or no weight: the question's own vector.
    assert sweep.rocchio(corpus, rows, query, [], 3, 1.0) is query
    assert sweep.rocchio(corpus, rows, query, [("y", 1.0)], 3, 0.0) is query
