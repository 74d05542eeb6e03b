"""The cosine floor of a search (`Retriever.search`): which fused candidates are worth fetching,
judged from the searches' scores alone, and the second embedder's part of one search.

The floor keeps a passage whose first embedder's cosine reaches `score_floor`; with a second
embedder it is "either": the second's cosine reaching `second_score_floor` keeps it too.
Candidates the searches already scored under every floor are skipped unread; a candidate
whose verdict needs a cosine known only once its vector is read is fetched but not counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ragops.providers.vectorstore.base import StoredHit


def cosine_of(vector: npt.NDArray[np.float32] | None, query: npt.NDArray[np.float32]) -> float:
    if vector is None:
        return 0.0  # the store did not return the vector: treated as unrelated
    return float(np.dot(vector, query))


@dataclass(slots=True)
class Second:
    """The second embedder's part of one search: its question vector and its cosines."""

    vector: npt.NDArray[np.float32]
    cosine: dict[str, float]
    floor: float


def next_batch(
    fused: Sequence[tuple[str, float]],
    start: int,
    wanted: int,
    judge: Callable[[str], bool | None],
) -> tuple[list[tuple[str, float]], int]:
    """The next fused candidates worth fetching from position `start`, and where the batch
    after them starts: a candidate the searches' scores already fail on the floor (`judge`
    False) is skipped unread (it would be dropped after fetching), and the batch ends once it
    holds `wanted` candidates they pass (`judge` True); a candidate whose verdict needs a
    cosine known only once its vector is read (a BM25-only one, `judge` None) is fetched but
    not counted. One fetch then usually suffices (another follows only if points were deleted
    meanwhile), and the passages kept are those a fetch of every candidate in order would
    keep."""
    batch: list[tuple[str, float]] = []
    sure = 0
    at = start
    while at < len(fused) and sure < wanted:
        item = fused[at]
        at += 1
        verdict = judge(item[0])
        if verdict is False:
            continue
        batch.append(item)
        sure += verdict is True
    return batch, at


def over_floor(
    score: float | None, other: float | None, floor: float, second: Second | None
) -> bool:
    """Whether a passage passes the floor: its first cosine `score` reaches `floor`, or (with
    a second embedder) its second cosine `other` reaches the second's floor ("either")."""
    if score is not None and score >= floor:
        return True
    return second is not None and other is not None and other >= second.floor


def judge_floor(
    cosine: dict[str, float], floor: float, second: Second | None
) -> Callable[[str], bool | None]:
    """The floor's verdict on a candidate from the searches' scores alone (None: unknown,
    when a cosine it could pass on is read only with its vector)."""

    def judge(item: str) -> bool | None:
        score = cosine.get(item)
        other = second.cosine.get(item) if second is not None else None
        if over_floor(score, other, floor, second):
            return True
        known = score is not None and (second is None or other is not None)
        return False if known else None

    return judge


def settle(task: asyncio.Task[list[StoredHit]] | None) -> None:
    """Cancel a search task nobody waits for any more, or mark its error as seen."""
    if task is None:
        return
    if not task.done():
        task.cancel()
    elif not task.cancelled():
        task.exception()
