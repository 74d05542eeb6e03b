"""BM25 as a sparse vector: the lexical half of hybrid search.

Text is lowercased, split into unicode words, stripped of English stopwords and stemmed
(Snowball English; the C implementation PyStemmer when installed, the pure-Python
snowballstemmer otherwise: both give the same stems). Each stem becomes a term id — a stable
32-bit hash (blake2b), not Python's per-process randomised `hash()` — so a term gets the same
id in every process and every release.

Documents carry the BM25 term-frequency part: with the length-normalised frequency `c = tf / (1
- b + b*len/avg_len)`, a term weighs `(k1+1)*c / (k1+c)`, i.e. `tf*(k1+1) / (tf + k1*(1 - b +
b*len/avg_len))`. `delta` > 0 shifts `c` by `delta` first (BM25L, Lv & Zhai 2011: a term met
once in a long passage keeps more weight); the default is 0, classic BM25 (BM25L was measured
on SciFact and not taken, docs/performance.md). Queries carry weight 1 per unique term. The IDF
part is applied by Qdrant at query time (the sparse vector is configured with `Modifier.IDF`),
so document vectors never need re-weighting as the corpus grows. `avg_len` is a constant rather
than a corpus statistic for the same reason; the default suits chunks of a few hundred words.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable
from functools import lru_cache

from ragops.providers.vectorstore.base import SparseVector

# Tuned on BEIR SciFact (bench/retrieval.py); see docs/performance.md.
DEFAULT_K1 = 1.2
DEFAULT_B = 0.75
DEFAULT_AVG_LEN = 120.0
DEFAULT_DELTA = 0.0

_WORD = re.compile(r"\w+", re.UNICODE)

# English stopwords: function words that carry no topic (close to the NLTK/Snowball lists).
# Negations ("no", "not", "nor") are kept on purpose: they matter in questions and claims.
STOPWORDS: frozenset[str] = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its
    itself just me more most my myself of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves s t d ll m o re ve y
    """.split()
)


def _make_stemmer() -> Callable[[str], str]:
    try:
        import Stemmer

        stem: Callable[[str], str] = Stemmer.Stemmer("english").stemWord
        return stem
    except ImportError:  # pragma: no cover - PyStemmer is a dependency; this is a fallback
        import snowballstemmer

        fallback: Callable[[str], str] = snowballstemmer.stemmer("english").stemWord
        return fallback


_stem = _make_stemmer()


@lru_cache(maxsize=200_000)
def _term(word: str) -> tuple[str, int] | None:
    """Stem and id of one lowercased word, or None for a stopword."""
    if word in STOPWORDS:
        return None
    stem = _stem(word)
    return stem, term_id(stem)


def term_id(term: str) -> int:
    """Stable unsigned 32-bit id of a (stemmed) term."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest(), "big")


def analyze(text: str) -> list[str]:
    """The stemmed, stopword-free terms of `text`, in order."""
    out: list[str] = []
    for word in _WORD.findall(text.lower()):
        term = _term(word)
        if term is not None:
            out.append(term[0])
    return out


def _term_ids(text: str) -> list[int]:
    out: list[int] = []
    for word in _WORD.findall(text.lower()):
        term = _term(word)
        if term is not None:
            out.append(term[1])
    return out


class Bm25Encoder:
    """Turns text into BM25 sparse vectors (documents) and term sets (queries)."""

    def __init__(
        self,
        *,
        k1: float = DEFAULT_K1,
        b: float = DEFAULT_B,
        avg_len: float = DEFAULT_AVG_LEN,
        delta: float = DEFAULT_DELTA,
    ) -> None:
        if k1 < 0 or not 0.0 <= b <= 1.0 or avg_len <= 0 or delta < 0:
            raise ValueError("BM25 needs k1 >= 0, 0 <= b <= 1, avg_len > 0 and delta >= 0")
        self.k1 = k1
        self.b = b
        self.avg_len = avg_len
        self.delta = delta

    def encode_document(self, text: str) -> SparseVector:
        """Saturated term frequencies of a passage (IDF is Qdrant's job)."""
        ids = _term_ids(text)
        if not ids:
            return SparseVector(indices=[], values=[])
        norm = 1.0 - self.b + self.b * len(ids) / self.avg_len
        k1, delta = self.k1, self.delta
        counts = Counter(ids)
        indices = sorted(counts)
        shifted = [counts[i] / norm + delta for i in indices]
        values = [c * (k1 + 1.0) / (k1 + c) for c in shifted]
        return SparseVector(indices=indices, values=values)

    def encode_query(self, text: str) -> SparseVector:
        """Weight 1 for each distinct query term."""
        indices = sorted(set(_term_ids(text)))
        return SparseVector(indices=indices, values=[1.0] * len(indices))
