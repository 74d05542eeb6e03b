"""Fusion of dense and BM25 rankings: RRF and weighted score fusion on hand-made rankings."""

from __future__ import annotations

import math

import pytest

from ragops.retrieval.fusion import (
    fuse,
    min_max,
    reciprocal_rank_fusion,
    weighted_score_fusion,
    z_score_fusion,
    z_scores,
)

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
    zscore = fuse(DENSE, SPARSE, method="zscore", dense_weight=2, sparse_weight=1)
    assert zscore == z_score_fusion([DENSE, SPARSE], [2, 1])
    with pytest.raises(ValueError):
        fuse(DENSE, SPARSE, method="max")  # type: ignore[arg-type]


def test_fusing_empty_rankings() -> None:
    assert fuse([], [], method="rrf") == []
    assert fuse([], SPARSE, method="weighted")[0][0] == "c"
    assert fuse([], [], method="zscore") == []
    assert [i for i, _ in fuse([], SPARSE, method="zscore")] == ["c", "d", "a"]


def test_z_scores_standardise_a_ranking() -> None:
    z = z_scores(SPARSE)  # 12, 7, 1: mean 20/3, population sd sqrt(182/9)
    sd = math.sqrt(182 / 9)
    assert z["c"] == pytest.approx((12 - 20 / 3) / sd)
    assert z["d"] == pytest.approx((7 - 20 / 3) / sd)
    assert z["a"] == pytest.approx((1 - 20 / 3) / sd)
    assert z_scores([("x", 3.0), ("y", 3.0)]) == {"x": 0.0, "y": 0.0}
    assert z_scores([("x", 2.0), ("x", 1.0)]) == {"x": 0.0}  # a repeat keeps its first score
    assert z_scores([]) == {}


def test_z_score_fusion_gives_absent_ids_the_lowest_z_and_maps_to_unit() -> None:
    fused = dict(z_score_fusion([DENSE, SPARSE], [1.0, 1.0]))
    dense, sparse = z_scores(DENSE), z_scores(SPARSE)
    raw = {
        "a": dense["a"] + sparse["a"],
        "b": dense["b"] + min(sparse.values()),  # b is not in the BM25 list
        "c": dense["c"] + sparse["c"],
        "d": min(dense.values()) + sparse["d"],  # d is not in the dense list
    }
    low, high = min(raw.values()), max(raw.values())
    for item, value in raw.items():
        assert fused[item] == pytest.approx((value - low) / (high - low)), item
    assert max(fused.values()) == 1.0 and min(fused.values()) == 0.0


def test_z_score_fusion_is_not_squashed_by_one_outlier() -> None:
    # BM25 has one runaway score: min-max squeezes the rest of its list to near 0, so the
    # dense ranking alone decides between "p" and "q"; z-scores keep BM25's clear preference.
    dense = [("q", 0.62), ("p", 0.60), ("x", 0.30), ("y", 0.29), ("z", 0.28)]
    sparse = [("x", 100.0), ("p", 6.0), ("q", 1.0), ("y", 0.9), ("z", 0.8)]
    weighted = [i for i, _ in weighted_score_fusion([dense, sparse], [1.0, 1.0])]
    zscore = [i for i, _ in z_score_fusion([dense, sparse], [1.0, 1.0])]
    assert weighted.index("q") < weighted.index("p")
    assert zscore.index("p") < zscore.index("q")


def test_z_score_fusion_rejects_bad_weights() -> None:
    with pytest.raises(ValueError):
        z_score_fusion([DENSE, SPARSE], [0.0, 0.0])
    with pytest.raises(ValueError):
        z_score_fusion([DENSE, SPARSE], [-1.0, 1.0])
    with pytest.raises(ValueError):
        z_score_fusion([DENSE], [1.0, 1.0])
