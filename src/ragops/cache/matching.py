"""When may one question be answered with another's cached answer? A similarity threshold
chosen from the operator's tolerated wrong-hit rate, then lexical guards against the known
failure of embedding similarity: questions that read alike but ask something else.

Guards (each refuses a candidate; see docs/caching.md for how they were chosen):
- numbers: both questions name the same numbers ("in 2023" / "in 2024");
- negation: both are negated or neither is ("which keys expire" / "which keys never expire");
- entities: the same code-like or capitalised names ("Redis" / "Postgres", `RAGOPS_TOP_K`);
- swapped pair: one content word replaced by another and nothing else changed ("rotate an API
  key" / "revoke an API key"), the shape of most near-misses;
- order: the same content words in another order ("from A to B" / "from B to A").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ragops.retrieval.sparse import analyze

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"[\w'’-]+", re.UNICODE)
_NEGATIONS = frozenset(
    "no not never none nobody nothing nowhere neither nor without cannot cant can't won't "
    "don't doesn't didn't isn't aren't wasn't weren't shouldn't wouldn't couldn't hasn't "
    "haven't hadn't mustn't".split()
)
_ENTITY = re.compile(r"^(?:[A-Z0-9_]{2,}|[A-Za-z]+[A-Z_0-9.][\w.]*|\w*\d\w*)$")

# Cosine thresholds of the bundled int8 all-MiniLM-L6-v2 embedder with the guards on,
# measured on the tuning half of bench/data/cache_pairs.json (bench/cache.py --calibrate):
# the least threshold whose wrong-hit rate stayed within each tolerated rate.
CALIBRATION: tuple[tuple[float, float], ...] = (
    (0.001, 0.95),
    (0.005, 0.92),
    (0.01, 0.90),
    (0.02, 0.87),
    (0.05, 0.83),
    (0.10, 0.78),
)


def threshold_for(max_error: float) -> float:
    """The similarity threshold for a tolerated wrong-hit rate (stricter when in doubt)."""
    chosen = CALIBRATION[0][1]
    for error, threshold in CALIBRATION:
        if error <= max_error + 1e-12:
            chosen = threshold
    return chosen


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def _negated(text: str) -> bool:
    words = {w.casefold().replace("’", "'") for w in _WORD.findall(text)}
    return bool(words & _NEGATIONS) or any(w.endswith("n't") for w in words)


def _entities(text: str) -> set[str]:
    words = _WORD.findall(text)
    found = {w.casefold() for w in words if _ENTITY.match(w) and not w.isdigit()}
    # Capitalised words past the first: names ("Postgres", "Kubernetes").
    found |= {w.casefold() for w in words[1:] if w[:1].isupper() and w.casefold() != "i"}
    return found


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a candidate may be served, and the guard that refused it."""

    ok: bool
    reason: str = ""


def guard(question: str, candidate: str) -> Verdict:
    """Refuse a candidate whose wording says it asks something else."""
    if _numbers(question) != _numbers(candidate):
        return Verdict(False, "numbers")
    if _negated(question) != _negated(candidate):
        return Verdict(False, "negation")
    if _entities(question) != _entities(candidate):
        return Verdict(False, "entities")
    mine, theirs = analyze(question), analyze(candidate)
    only_mine = Counter(mine) - Counter(theirs)
    only_theirs = Counter(theirs) - Counter(mine)
    shared = sum((Counter(mine) & Counter(theirs)).values())
    if sum(only_mine.values()) == 1 and sum(only_theirs.values()) == 1 and shared >= 2:
        return Verdict(False, "swapped_word")
    if not only_mine and not only_theirs and mine != theirs:
        return Verdict(False, "order")
    return Verdict(True)


def choose(
    question: str,
    ranked: Sequence[tuple[float, str]],
    threshold: float,
    *,
    guards: bool = True,
) -> int | None:
    """The index of the first candidate (by descending similarity) at or above the
    threshold that the guards accept, or None."""
    for position, (similarity, text) in enumerate(ranked):
        if similarity < threshold:
            return None
        if not guards or guard(question, text).ok:
            return position
    return None
