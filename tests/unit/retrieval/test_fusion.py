"""Fusion of dense and BM25 rankings: RRF and weighted score fusion on hand-made rankings."""

from __future__ import annotations

import pytest

from ragops.retrieval.fusion import fuse, min_max, reciprocal_rank_fusion, weighted_score_fusion

DENSE = [("a", 0.9), ("b", 0.8), ("c", 0.5)]
SPARSE = [("c", 12.0), ("d", 7.0), ("a", 1.0)]


def test_rrf_sums_reciprocal_ranks() -> None:
    fused = dict(reciprocal_rank_fusion([DENSE, SPARSE], [1.0, 1.0], k=60))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 63)
    assert fused["b"] == pytest.approx(1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert fused["d"] == pytest.approx(1 / 62)


def test_rrf_order_is_deterministic_on_ties() -> None:
    # a and c tie exactly, b and d tie exactly: best single rank, then id, decide.
    order = [item for item, _ in reciprocal_rank_fusion([DENSE, SPARSE], [1.0, 1.0], k=60)]
    assert order == ["a", "c", "b", "d"]


def test_rrf_weights_tilt_the_order() -> None:
    sparse_heavy = [i for i, _ in reciprocal_rank_fusion([DENSE, SPARSE], [0.2, 1.0], k=10)]
    assert sparse_heavy[0] == "c"
    dense_heavy = [i for i, _ in reciprocal_rank_fusion([DENSE, SPARSE], [1.0, 0.2], k=10)]
    assert dense_heavy[0] == "a"


def test_rrf_zero_weight_ignores_a_ranking() -> None:
    fused = reciprocal_rank_fusion([DENSE, SPARSE], [1.0, 0.0], k=1)
    assert [i for i, _ in fused][:3] == ["a", "b", "c"]
    assert dict(fused)["d"] == 0.0


def test_rrf_counts_a_duplicate_once() -> None:
    fused = dict(reciprocal_rank_fusion([[("x", 1.0), ("x", 0.5)]], [1.0], k=1))
    assert fused == {"x": pytest.approx(0.5)}


def test_rrf_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([DENSE], [1.0, 1.0])
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([DENSE], [1.0], k=0)


def test_min_max_maps_to_unit_interval() -> None:
    assert min_max(SPARSE) == {"c": 1.0, "d": pytest.approx(6 / 11), "a": 0.0}
    assert min_max([("x", 3.0), ("y", 3.0)]) == {"x": 1.0, "y": 1.0}
    assert min_max([]) == {}


def test_weighted_fusion_is_a_convex_combination() -> None:
    fused = dict(weighted_score_fusion([DENSE, SPARSE], [3.0, 1.0]))
    # dense normalised: a 1, b 0.75, c 0; sparse: c 1, d 6/11, a 0. Weights 0.75 / 0.25.
    assert fused["a"] == pytest.approx(0.75)
    assert fused["b"] == pytest.approx(0.75 * 0.75)
    assert fused["c"] == pytest.approx(0.25)
    assert fused["d"] == pytest.approx(0.25 * 6 / 11)
    assert all(0.0 <= v <= 1.0 for v in fused.values())


def test_weighted_fusion_rejects_bad_weights() -> None:
    with pytest.raises(ValueError):
        weighted_score_fusion([DENSE, SPARSE], [0.0, 0.0])
    with pytest.raises(ValueError):
        weighted_score_fusion([DENSE, SPARSE], [-1.0, 1.0])


def test_fuse_dispatches_on_method() -> None:
    rrf = fuse(DENSE, SPARSE, method="rrf", rrf_k=60)
    assert rrf == reciprocal_rank_fusion([DENSE, SPARSE], [1.0, 1.0], 60)
    weighted = fuse(DENSE, SPARSE, method="weighted", dense_weight=2, sparse_weight=1)
    assert weighted == weighted_score_fusion([DENSE, SPARSE], [2, 1])
    with pytest.raises(ValueError):
        fuse(DENSE, SPARSE, method="max")  # type: ignore[arg-type]


def test_fusing_empty_rankings() -> None:
    assert fuse([], [], method="rrf") == []
    assert fuse([], SPARSE, method="weighted")[0][0] == "c"
