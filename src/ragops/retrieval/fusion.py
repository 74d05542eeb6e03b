"""Fusing the dense and the BM25 ranking into one: pure functions, no I/O.

Three methods, chosen by `settings.fusion`:

* `rrf` — weighted reciprocal rank fusion: `sum_i w_i / (k + rank_i)` with ranks starting at
  1; an id absent from a ranking gets nothing from it. Scale-free, uses ranks only.
* `weighted` — a convex combination of min-max normalised scores: each ranking's scores are
  mapped to [0, 1] (best = 1, worst listed = 0), weights are scaled to sum to 1, an id absent
  from a ranking counts 0 there.
* `zscore` (the default) — a convex combination of standardised scores: each ranking's scores
  become z-scores over its own candidates (`(score - mean) / standard deviation`), an id
  absent from a ranking gets that ranking's lowest z-score, and the fused sums are min-max
  mapped to [0, 1] at the end (order unchanged). Unlike min-max, one outlying best or worst
  score does not squash the rest of a ranking.

Ties are broken by the best single rank, then by id, so the order is deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

Ranking = Sequence[tuple[str, float]]
"""(id, score) pairs, best first."""

FusionMethod = Literal["rrf", "weighted", "zscore"]


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


def _shares(rankings: Sequence[Ranking], weights: Sequence[float]) -> list[float]:
    """Each ranking's share of a convex combination: its weight over the weights' sum."""
    if len(rankings) != len(weights):
        raise ValueError("one weight per ranking")
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    total = sum(weights)
    if total <= 0:
        raise ValueError("at least one weight must be positive")
    return [w / total for w in weights]


def weighted_score_fusion(
    rankings: Sequence[Ranking], weights: Sequence[float]
) -> list[tuple[str, float]]:
    """Convex combination of min-max normalised scores; returns (id, fused score), best first."""
    scores: dict[str, float] = {}
    for ranking, share in zip(rankings, _shares(rankings, weights), strict=True):
        for item, norm in min_max(ranking).items():
            scores[item] = scores.get(item, 0.0) + share * norm
    return _ordered(scores, rankings)


def z_scores(ranking: Ranking) -> dict[str, float]:
    """Scores standardised over the ranking (population standard deviation); all 0.0 when
    every score is equal. A repeated id keeps its first (best) score."""
    first: dict[str, float] = {}
    for item, score in ranking:
        first.setdefault(item, score)
    if not first:
        return {}
    values = list(first.values())
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return {item: (0.0 if std <= 0 else (score - mean) / std) for item, score in first.items()}


def z_score_fusion(
    rankings: Sequence[Ranking], weights: Sequence[float]
) -> list[tuple[str, float]]:
    """Convex combination of z-scores (an id absent from a ranking gets its lowest z-score),
    mapped to [0, 1]; returns (id, fused score), best first."""
    shares = _shares(rankings, weights)
    standardised = [z_scores(ranking) for ranking in rankings]
    items: dict[str, None] = {}
    for z in standardised:
        items.update(dict.fromkeys(z))
    sums: dict[str, float] = dict.fromkeys(items, 0.0)
    for z, share in zip(standardised, shares, strict=True):
        if not z or share == 0:
            continue
        lowest = min(z.values())
        for item in items:
            sums[item] += share * z.get(item, lowest)
    return _ordered(min_max(list(sums.items())), rankings)


def fuse_rankings(
    rankings: Sequence[Ranking],
    weights: Sequence[float],
    *,
    method: FusionMethod = "rrf",
    rrf_k: int = 60,
) -> list[tuple[str, float]]:
    """Fuse any number of rankings with the configured method, one weight each."""
    if method == "rrf":
        return reciprocal_rank_fusion(rankings, weights, rrf_k)
    if method == "weighted":
        return weighted_score_fusion(rankings, weights)
    if method == "zscore":
        return z_score_fusion(rankings, weights)
    raise ValueError(f"unknown fusion method {method!r}")


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
    return fuse_rankings([dense, sparse], [dense_weight, sparse_weight], method=method, rrf_k=rrf_k)
