"""The retriever reads the payloads of fused candidates in batches (`floor.next_batch`):
candidates the dense search scored below the floor are never read, and the passages kept are
the ones a read of every candidate in order would keep; likewise with the "either" floor of a
second embedder (a candidate stays over either cosine floor)."""

from __future__ import annotations

import random

import numpy as np

from ragops.retrieval.floor import Second, judge_floor, next_batch


def _kept_by_batches(
    fused: list[tuple[str, float]],
    cosine: dict[str, float],
    fetched_cosine: dict[str, float],
    gone: set[str],
    k: int,
    floor: float,
) -> tuple[list[str], int, int]:
    """The loop of `Retriever.search`: kept ids, fetch calls, candidates read."""
    kept: list[str] = []
    start = calls = read = 0
    while len(kept) < k and start < len(fused):
        judge = judge_floor(cosine, floor, None)
        batch, start = next_batch(fused, start, k - len(kept), judge)
        calls += 1
        read += len(batch)
        for item, _ in batch:
            if item in gone:
                continue
            score = cosine[item] if item in cosine else fetched_cosine[item]
            if score >= floor:
                kept.append(item)
    return kept[:k], calls, read


def test_batches_keep_what_reading_every_candidate_would() -> None:
    rng = random.Random(11)
    for _ in range(500):
        ids = [f"p{i}" for i in range(rng.randint(0, 80))]
        fused = [(pid, 1.0 / (n + 1)) for n, pid in enumerate(ids)]
        dense = {pid: rng.uniform(-0.2, 0.9) for pid in ids if rng.random() < 0.7}
        fetched = {pid: rng.uniform(-0.2, 0.9) for pid in ids}
        gone = {pid for pid in ids if rng.random() < 0.05}
        k, floor = rng.randint(1, 35), 0.25
        everything = [
            pid for pid, _ in fused if pid not in gone and (dense.get(pid, fetched[pid])) >= floor
        ][:k]
        kept, calls, read = _kept_by_batches(fused, dense, fetched, gone, k, floor)
        assert kept == everything
        if not gone:
            assert calls <= 1 + sum(1 for pid in ids if pid not in dense)


def test_candidates_below_the_floor_are_not_read() -> None:
    fused = [("a", 0.9), ("b", 0.8), ("c", 0.7), ("d", 0.6), ("e", 0.5)]
    cosine = {"a": 0.6, "b": 0.1, "c": 0.5, "e": 0.4}  # d: found by BM25 alone
    judge = judge_floor(cosine, 0.25, None)
    batch, start = next_batch(fused, 0, 2, judge)
    assert [item for item, _ in batch] == ["a", "c"]
    assert start == 3
    batch, start = next_batch(fused, start, 1, judge)
    assert [item for item, _ in batch] == ["d", "e"]  # d's cosine is known once it is read
    assert start == 5


def test_either_floor_batches_keep_what_reading_every_candidate_would() -> None:
    rng = random.Random(12)
    for _ in range(500):
        ids = [f"p{i}" for i in range(rng.randint(0, 80))]
        fused = [(pid, 1.0 / (n + 1)) for n, pid in enumerate(ids)]
        first = {pid: rng.uniform(-0.2, 0.9) for pid in ids}
        other = {pid: rng.uniform(0.3, 0.9) for pid in ids}
        known_first = {pid: first[pid] for pid in ids if rng.random() < 0.6}
        known_other = {pid: other[pid] for pid in ids if rng.random() < 0.6}
        second = Second(np.zeros(2, dtype=np.float32), known_other, 0.6)
        judge = judge_floor(known_first, 0.25, second)
        k = rng.randint(1, 35)
        everything = [pid for pid, _ in fused if first[pid] >= 0.25 or other[pid] >= 0.6][:k]
        kept: list[str] = []
        start = 0
        while len(kept) < k and start < len(fused):
            batch, start = next_batch(fused, start, k - len(kept), judge)
            kept.extend(p for p, _ in batch if first[p] >= 0.25 or other[p] >= 0.6)
        assert kept[:k] == everything


def test_either_floor_reads_a_candidate_unless_both_cosines_fail() -> None:
    second = Second(np.zeros(2, dtype=np.float32), {"a": 0.7, "b": 0.5, "c": 0.5}, 0.6)
    judge = judge_floor({"a": 0.1, "b": 0.3, "c": 0.1, "d": 0.1}, 0.25, second)
    assert judge("a") is True  # the second cosine keeps it
    assert judge("b") is True  # the first does
    assert judge("c") is False  # both known, both under: never read
    assert judge("d") is None  # its second cosine is known once it is read
