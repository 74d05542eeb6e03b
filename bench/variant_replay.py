"""Replay pieces for `retrieval_variants.py`: an in-memory BM25 (and BM25+ / BM25L) over the
product's analyzer with the stores' IDF, question-term weighting, RM3 feedback terms, score
normalisation variants for fusion, and long texts cut into embedding windows."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

Ranking = list[tuple[str, float]]
LIMIT = 100


class Lexicon:
    """Documents as term counts (the product's analyzer), with the stores' IDF."""

    def __init__(self, texts: Sequence[str], stem: bool = True, stopwords: bool = True) -> None:
        import re

        import Stemmer

        from ragops.retrieval.sparse import STOPWORDS, analyze

        if stem and stopwords:
            self.analyze: Callable[[str], list[str]] = analyze
        else:
            word = re.compile(r"\w+", re.UNICODE)
            drop = STOPWORDS if stopwords else frozenset()
            shape: Callable[[str], str] = Stemmer.Stemmer("english").stemWord if stem else str

            def analyzer(text: str) -> list[str]:
                return [shape(w) for w in word.findall(text.lower()) if w not in drop]

            self.analyze = analyzer
        self.docs = [self.analyze(t) for t in texts]
        self.counts = [Counter(d) for d in self.docs]
        df: Counter[str] = Counter()
        for c in self.counts:
            df.update(c.keys())
        n = len(texts)
        self.idf = {t: math.log((n - m + 0.5) / (m + 0.5) + 1.0) for t, m in df.items()}
        self.postings: dict[str, list[int]] = defaultdict(list)
        for row, c in enumerate(self.counts):
            for t in c:
                self.postings[t].append(row)
        self.bigrams = [set(zip(d, d[1:], strict=False)) for d in self.docs]


class Bm25:
    """BM25 over a `Lexicon`; `delta` > 0 gives BM25+ (or BM25L with `variant="l"`)."""

    def __init__(
        self,
        lex: Lexicon,
        k1: float = 1.2,
        b: float = 0.75,
        avg_len: float = 120.0,
        delta: float = 0.0,
        variant: str = "+",
    ) -> None:
        self.lex, self.k1, self.b, self.avg_len = lex, k1, b, avg_len
        self.delta, self.variant = delta, variant

    def weight(self, row: int, term: str) -> float:
        """The document-side weight of `term` in document `row` (no IDF)."""
        tf = self.lex.counts[row].get(term, 0)
        if not tf:
            return 0.0
        length = len(self.lex.docs[row])
        norm = 1.0 - self.b + self.b * length / self.avg_len
        k1 = self.k1
        if self.variant == "l":
            c = tf / norm + self.delta
            return (k1 + 1.0) * c / (k1 + c)
        return tf * (k1 + 1.0) / (tf + k1 * norm) + self.delta

    def score_terms(
        self, terms: Mapping[str, float], limit: int = LIMIT
    ) -> list[tuple[int, float]]:
        """Best `limit` rows for weighted query terms, best first."""
        scores: dict[int, float] = defaultdict(float)
        for term, qw in terms.items():
            idf = self.lex.idf.get(term, 0.0)
            for row in self.lex.postings.get(term, ()):
                scores[row] += qw * idf * self.weight(row, term)
        return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]

    def score_row(self, terms: Mapping[str, float], row: int) -> float:
        """BM25 score of one document."""
        return sum(qw * self.lex.idf.get(t, 0.0) * self.weight(row, t) for t, qw in terms.items())


def query_terms(
    lex: Lexicon, text: str, *, tf: bool = False, idf_cut: float = 0.0
) -> dict[str, float]:
    """Query terms with weight 1 (the product), or their count; terms under `idf_cut` dropped
    (unless that leaves nothing)."""
    counts = Counter(lex.analyze(text))
    terms = {t: (float(c) if tf else 1.0) for t, c in counts.items()}
    if idf_cut > 0:
        kept = {t: w for t, w in terms.items() if lex.idf.get(t, 0.0) >= idf_cut}
        terms = kept or terms
    return terms


def rm3_terms(
    bm25: Bm25,
    terms: Mapping[str, float],
    feedback: Sequence[tuple[int, float]],
    docs: int,
    expansion: int,
    weight: float,
) -> dict[str, float]:
    """RM3: relevance model over the first `docs` feedback documents (term probability
    times the document's normalised score), its `expansion` heaviest terms interpolated with
    the original query (`1 - weight` / `weight`)."""
    lex = bm25.lex
    top = list(feedback[:docs])
    if not top:
        return dict(terms)
    total = sum(math.exp(s - top[0][1]) for _, s in top)
    model: dict[str, float] = defaultdict(float)
    for row, s in top:
        p_doc = math.exp(s - top[0][1]) / total
        length = max(len(lex.docs[row]), 1)
        for t, c in lex.counts[row].items():
            model[t] += p_doc * c / length
    best = sorted(model.items(), key=lambda kv: -kv[1])[:expansion]
    mass = sum(v for _, v in best) or 1.0
    qmass = sum(terms.values()) or 1.0
    out: dict[str, float] = {t: (1.0 - weight) * w / qmass for t, w in terms.items()}
    for t, v in best:
        out[t] = out.get(t, 0.0) + weight * v / mass
    return out


def completed_zscore(
    dense: Ranking,
    sparse: Ranking,
    cos: Callable[[str], float] | None,
    bm: Callable[[str], float] | None,
) -> Ranking:
    """z-score fusion where an id missing from one ranking gets its real score there
    (standardised with that ranking's mean and deviation), when a scorer is given."""
    out: dict[str, float] = defaultdict(float)
    items = dict.fromkeys([i for i, _ in dense] + [i for i, _ in sparse])
    for ranking, scorer in ((dense, cos), (sparse, bm)):
        values = np.array([s for _, s in ranking], dtype=np.float64)
        mean, std = float(values.mean()), float(values.std()) or 1.0
        have = dict(ranking)
        lowest = (float(values.min()) - mean) / std
        for item in items:
            if item in have:
                out[item] += (have[item] - mean) / std
            elif scorer is not None:
                out[item] += (scorer(item) - mean) / std
            else:
                out[item] += lowest
    return sorted(out.items(), key=lambda kv: (-kv[1], kv[0]))


def normalised_fusion(dense: Ranking, sparse: Ranking, how: str, top: int = 0) -> Ranking:
    """Sum of per-ranking standardised scores, an id missing from a ranking getting that
    ranking's lowest. `how`: "top" (mean and deviation of the first `top` scores only),
    "robust" (median and median absolute deviation), "mnz" (z-scores, the sum doubled for an
    id both rankings returned, CombMNZ)."""
    out: dict[str, float] = defaultdict(float)
    both = set(dict(dense)) & set(dict(sparse))
    items = dict.fromkeys([i for i, _ in dense] + [i for i, _ in sparse])
    for ranking in (dense, sparse):
        values = np.array([s for _, s in ranking], dtype=np.float64)
        if how == "top":
            head = values[:top]
            centre, spread = float(head.mean()), float(head.std())
        elif how == "robust":
            centre = float(np.median(values))
            spread = float(np.median(np.abs(values - centre))) * 1.4826
        else:
            centre, spread = float(values.mean()), float(values.std())
        spread = spread or 1.0
        have = dict(ranking)
        lowest = (float(values.min()) - centre) / spread
        for item in items:
            out[item] += (have[item] - centre) / spread if item in have else lowest
    if how == "mnz":
        low = min(out.values())
        for item in both:
            out[item] = low + 2.0 * (out[item] - low)
    return sorted(out.items(), key=lambda kv: (-kv[1], kv[0]))


WINDOW = 250


def windows_of(texts: Sequence[str]) -> tuple[list[str], list[int], list[int]]:
    """Each text cut into windows of at most `WINDOW` word pieces (the first is what the
    product embeds, then the rest): the windows' texts, each one's text row and its pieces."""
    from ragops.config.settings import Settings
    from ragops.providers.embedder.factory import create_embedder

    embedder: Any = create_embedder(Settings())
    tokenizer, _ = embedder.load()
    tokenizer.no_truncation()  # the whole text, cut into windows below
    windows: list[str] = []
    owner: list[int] = []
    pieces: list[int] = []
    for row, text in enumerate(texts):
        offsets = tokenizer.encode(text, add_special_tokens=False).offsets
        for start in range(0, max(len(offsets), 1), WINDOW):
            piece = offsets[start : start + WINDOW]
            windows.append(text[piece[0][0] : piece[-1][1]] if piece else text)
            owner.append(row)
            pieces.append(max(len(piece), 1))
    return windows, owner, pieces


def pooled(
    wvec: np.ndarray, owner: Sequence[int], weights: Sequence[float], rows: int
) -> np.ndarray:
    """One unit vector per text: the weighted sum of its windows' vectors."""
    out = np.zeros((rows, wvec.shape[1]), dtype=np.float32)
    np.add.at(out, np.asarray(owner), wvec * np.asarray(weights, dtype=np.float32)[:, None])
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def sentence_units(
    corpus: Sequence[Mapping[str, Any]], titled: bool
) -> tuple[list[str], list[int]]:
    """Every abstract cut into sentences by the product's splitter (`chat.units.sentences_of`,
    uncut: the embedder reads 256 word pieces of each): the units' texts and each one's
    document row. `titled`: each sentence is "title\\nsentence"; otherwise the title is a unit
    of its own, before the sentences."""
    from ragops.chat.units import sentences_of

    units: list[str] = []
    owner: list[int] = []
    for row, doc in enumerate(corpus):
        title = str(doc.get("title", "")).strip()
        sentences = sentences_of(str(doc.get("text", "")), 1_000_000)
        if titled:
            texts = [f"{title}\n{s}".strip() for s in sentences] or [title]
        else:
            texts = ([title] if title else []) + sentences
        units.extend(texts)
        owner.extend([row] * len(texts))
    return units, owner


def unit_index(owner: Sequence[int], rows: int) -> np.ndarray:
    """A (documents, most units) matrix of unit positions, -1 where a document has fewer."""
    counts = np.bincount(np.asarray(owner), minlength=rows)
    index = np.full((rows, max(int(counts.max()), 2)), -1, dtype=np.int64)
    filled = np.zeros(rows, dtype=np.int64)
    for position, row in enumerate(owner):
        index[row, filled[row]] = position
        filled[row] += 1
    return index


def per_document(sims: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each document's best unit score and the mean of its best two (its best one alone when
    it has a single unit), from the units' scores `sims` and `unit_index`; -1 without units."""
    padded = np.where(index >= 0, sims[np.maximum(index, 0)], -np.inf)
    two = -np.partition(-padded, 1, axis=1)[:, :2]
    best = np.where(np.isfinite(two[:, 0]), two[:, 0], -1.0)
    second = np.where(np.isfinite(two[:, 1]), two[:, 1], best)
    return best.astype(np.float32), ((best + second) / 2).astype(np.float32)
