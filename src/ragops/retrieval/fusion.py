"""Fusing the dense and the BM25 ranking into one: pure functions, no I/O.

Two methods, chosen by `settings.fusion`:

* `rrf` — weighted reciprocal rank fusion: `sum_i w_i / (k + rank_i)` with ranks starting at
  1; an id absent from a ranking gets nothing from it. Scale-free, robust, the default.
* `weighted` — a convex combination of min-max normalised scores: each ranking's scores are
  mapped to [0, 1] (best = 1, worst listed = 0), weights are scaled to sum to 1, an id absent
  from a ranking counts 0 there.

Ties are broken by the best single rank, then by id, so the order is deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

Ranking = Sequence[tuple[str, float]]
"""(id, score) pairs, best first."""

FusionMethod = Literal["rrf", "weighted"]


def _best_ranks(rankings: Sequence[Ranking]) -> dict[str, int]:
    best: dict[str, int] = {}
    for ranking in rankings:
        for rank, (item, _) in enumerate(ranking):
            if rank < best.get(item, rank + 1):
                best[item] = rank
    return best


def _ordered(scores: Mapping[str, float], rankings: Sequence[Ranking]) -> list[tuple[str, float]]:
    best = _best_ranks(rankings)
    return sorted(scores.items(), key=lambda kv: (-kv[1], best.get(kv[0], 0), kv[0]))


def reciprocal_rank_fusion(
    rankings: Sequence[Ranking], weights: Sequence[float], k: int = 60
) -> list[tuple[str, float]]:
    """Weighted RRF of several rankings; returns (id, fused score), best first."""
    if len(rankings) != len(weights):
        raise ValueError("one weight per ranking")
    if k < 1:
        raise ValueError("k must be at least 1")
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        seen: set[str] = set()
        for rank, (item, _) in enumerate(ranking, start=1):
            if item in seen:
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return _ordered(scores, rankings)


def min_max(ranking: Ranking) -> dict[str, float]:
    """Scores mapped to [0, 1]; all 1.0 when every score is equal."""
    if not ranking:
        return {}
    values = [score for _, score in ranking]
    low, high = min(values), max(values)
    span = high - low
    out: dict[str, float] = {}
    for item, score in ranking:
        if item not in out:
            out[item] = 1.0 if span <= 0 else (score - low) / span
    return out


def weighted_score_fusion(
    rankings: Sequence[Ranking], weights: Sequence[float]
) -> list[tuple[str, float]]:
    """Convex combination of min-max normalised scores; returns (id, fused score), best first."""
    if len(rankings) != len(weights):
        raise ValueError("one weight per ranking")
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    total = sum(weights)
    if total <= 0:
        raise ValueError("at least one weight must be positive")
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for item, norm in min_max(ranking).items():
            scores[item] = scores.get(item, 0.0) + (weight / total) * norm
    return _ordered(scores, rankings)


def fuse(
    dense: Ranking,
    sparse: Ranking,
    *,
    method: FusionMethod = "rrf",
    rrf_k: int = 60,
    dense_weight: float = 1.0,
    sparse_weight: float = 1.0,
) -> list[tuple[str, float]]:
    """Fuse a dense and a sparse ranking with the configured method."""
    if method == "rrf":
        return reciprocal_rank_fusion([dense, sparse], [dense_weight, sparse_weight], rrf_k)
    if method == "weighted":
        return weighted_score_fusion([dense, sparse], [dense_weight, sparse_weight])
    raise ValueError(f"unknown fusion method {method!r}")
