"""The benchmark's nDCG@k and Recall@k against hand-computed values (BEIR definitions)."""

from __future__ import annotations

import math

import pytest

from tests.unit.bench import load_bench

bench = load_bench("retrieval")


def test_ndcg_hand_computed() -> None:
    # Relevant: d1 and d4. Ranked: d3, d1, d2, d4 -> hits at ranks 2 and 4.
    ranked = ["d3", "d1", "d2", "d4"]
    relevant = {"d1": 1, "d4": 1}
    dcg = 1 / math.log2(3) + 1 / math.log2(5)  # 0.63093 + 0.43068
    idcg = 1 / math.log2(2) + 1 / math.log2(3)  # 1 + 0.63093
    assert bench.ndcg_at_k(ranked, relevant, 10) == pytest.approx(dcg / idcg)
    assert bench.ndcg_at_k(ranked, relevant, 10) == pytest.approx(0.6509, abs=1e-4)


def test_ndcg_cut_and_edge_cases() -> None:
    relevant = {"d1": 1, "d4": 1}
    # Only the top 2 count: d1 at rank 2.
    expected = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert bench.ndcg_at_k(["d3", "d1", "d2", "d4"], relevant, 2) == pytest.approx(expected)
    assert bench.ndcg_at_k(["d1", "d4"], relevant, 10) == pytest.approx(1.0)
    assert bench.ndcg_at_k([], relevant, 10) == 0.0
    assert bench.ndcg_at_k(["d1"], {}, 10) == 0.0


def test_ndcg_uses_graded_gains() -> None:
    relevant = {"a": 2, "b": 1}
    got = bench.ndcg_at_k(["b", "a"], relevant, 10)
    assert got == pytest.approx((1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3)))


def test_recall_at_k() -> None:
    relevant = {"d1": 1, "d4": 1, "d9": 0}
    ranked = ["d3", "d1", "d2", "d4"]
    assert bench.recall_at_k(ranked, relevant, 2) == 0.5
    assert bench.recall_at_k(ranked, relevant, 10) == 1.0
    assert bench.recall_at_k(ranked, {}, 10) == 0.0


def test_evaluate_averages_over_judged_queries() -> None:
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}}
    runs = {"q1": ["d1"], "q3": ["d2"]}  # q2 missing from the run: scores 0
    result = bench.evaluate(runs, qrels)
    assert result == {"ndcg@10": 0.5, "recall@10": 0.5, "recall@100": 0.5}


def test_query_halves_split_fixed_and_even() -> None:
    ids = [str(i) for i in range(101)]
    halves = bench.query_halves(ids)
    assert sorted(halves) == sorted(ids)
    assert sum(h == "choice" for h in halves.values()) == 51  # rounded up
    assert sum(h == "other" for h in halves.values()) == 50
    # Depends on the ids only: the same in any order, and a query keeps its half.
    assert bench.query_halves(list(reversed(ids))) == halves
    assert len({halves[q] for q in ids[:20]}) == 2  # not a cut by position


def test_evaluate_halves_scores_each_half_alone() -> None:
    qrels = {str(i): {f"d{i}": 1} for i in range(10)}
    halves = bench.query_halves(list(qrels))
    # Perfect on the choice half, nothing found on the other.
    runs = {q: ([f"d{q}"] if halves[q] == "choice" else []) for q in qrels}
    got = bench.evaluate_halves(runs, qrels)
    assert got == {"whole": 0.5, "choice": 1.0, "other": 0.0}
