"""The extractive answerer: the embedded default (and LLM fallback) that needs no model.

It answers with the 1-3 sentences of the retrieved passages that best match the question,
each followed by the bracketed number of its passage: "The pool keeps 5 connections open
[1]. It grows to 20 [2]." Passages are split into sentences with markdown in mind (headings,
tables and code blocks are skipped, each list item stands alone, "e.g.", "i.e." and "1.2" do
not end a sentence). Each sentence is scored by a mix of cosine similarity to the query
vector (sentences embedded with the caller's embed function) and IDF-weighted overlap of
stemmed, stopword-free words with the question. The result is deterministic. `stream_words`
replays a finished answer as word-sized deltas, so extractive answers can stream too.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import snowballstemmer

NOT_FOUND_ANSWER = "I could not find anything about that in the indexed documents."
"""The answer when nothing was retrieved: honest, and citing nothing."""

MAX_SENTENCE_CHARS = 400
MIN_SENTENCE_WORDS = 3
MAX_CANDIDATES = 128
DENSE_WEIGHT = 0.6
LEXICAL_WEIGHT = 0.4
RANK_PRIOR = 0.02
"""Bonus (scaled by retrieval rank) that lets earlier passages win exact ties."""
TIE_MARGIN = 0.02
"""Scores this close count as tied; a tie goes to a passage not cited yet."""
KEEP_RATIO = 0.8
"""A second or third sentence needs at least this share of the best score."""

Vector = npt.NDArray[Any]
Embed = Callable[[Sequence[str]], Awaitable[Vector]]

_STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    s t don isn aren doesn also may might must shall tell please want know need use using used
    get got one two""".split()
)
_ABBREVIATIONS = frozenset(
    "e.g i.e etc vs cf fig figs no nos approx incl esp resp min max mr mrs ms dr st jr sr".split()
)
_WORD = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
_FENCE = re.compile(r"^\s*(?:```|~~~)")
_HEADING = re.compile(r"^\s*#{1,6}(?:\s|$)")
_BULLET = re.compile(r"^\s*(?:[-*+\u2022]|\d{1,3}[.)])\s+")
_TABLE = re.compile(r"^\s*\|")
_RULE = re.compile(r"^\s*(?:[-*_=]\s*){3,}$")
_END = re.compile(r"[.!?\u2026]+[\"')\]\u201d\u2019]*(?=\s+[\"'(\[\u201c\u2018]?[A-Z0-9])")
_FINAL_PUNCT = re.compile(r"([.!?\u2026]+)$")
_DELTA = re.compile(r"\s*\S+|\s+$")


class ExtractivePassage(Protocol):
    """What the extractive answerer needs of a retrieved passage."""

    @property
    def text(self) -> str:
        """The passage text."""
        ...


@dataclass(frozen=True, slots=True)
class ScoredSentence:
    """One candidate sentence, where it came from, and how well it matches."""

    text: str
    passage: int
    """1-based number of its passage."""
    position: int
    """Index of the sentence within its passage."""
    score: float = 0.0


@dataclass(frozen=True, slots=True)
class ExtractiveAnswer:
    """An extractive answer with its citations."""

    text: str
    cited: tuple[int, ...]
    """1-based passage numbers cited, in order of first use."""
    sentences: tuple[ScoredSentence, ...] = ()
    score: float = 0.0
    """Score of the best sentence (0 when nothing was found)."""


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return str(_stemmer().stemWord(word))


def terms(text: str) -> list[str]:
    """Lowercased, stemmed words of `text` without stopwords (version-like tokens kept)."""
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


def _blocks(text: str) -> list[str]:
    """Paragraphs and list items of a passage, with headings, tables and code left out."""
    blocks: list[str] = []
    current: list[str] = []
    in_code = False

    def flush() -> None:
        if current:
            blocks.append(" ".join(current))
            current.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if _FENCE.match(line):
            flush()
            in_code = not in_code
        elif in_code:
            continue
        elif _RULE.match(line) and len(current) == 1 and line[0] in "=-":
            current.clear()  # a setext heading: the line above was its title
        elif not line or _HEADING.match(line) or _TABLE.match(line) or _RULE.match(line):
            flush()
        elif _BULLET.match(line):
            flush()
            current.append(_BULLET.sub("", line, count=1))
        else:
            current.append(line)
    flush()
    return blocks


def _ends_abbreviation(text: str, end: int) -> bool:
    """Whether the period before `end` closes an abbreviation such as "e.g." or "J."."""
    word = text[:end].rsplit(None, 1)[-1].rstrip(".").lstrip("(\"'").lower()
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def split_sentences(text: str) -> list[str]:
    """The sentences of a passage, in order; over-long ones are cut to MAX_SENTENCE_CHARS."""
    sentences: list[str] = []
    for block in _blocks(text):
        start = 0
        for match in _END.finditer(block):
            if match.group(0).startswith(".") and _ends_abbreviation(block, match.start() + 1):
                continue
            sentences.append(block[start : match.end()].strip())
            start = match.end()
        sentences.append(block[start:].strip())
    return [_clip(s) for s in sentences if s]


def _clip(sentence: str) -> str:
    if len(sentence) <= MAX_SENTENCE_CHARS:
        return sentence
    cut = sentence[: MAX_SENTENCE_CHARS - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > MAX_SENTENCE_CHARS // 2 else cut).rstrip(" ,;:") + "\u2026"


def cite(sentence: str, number: int) -> str:
    """`sentence` with ` [number]` before its final punctuation (a period added if none)."""
    body = sentence.rstrip()
    match = _FINAL_PUNCT.search(body)
    if match:
        return f"{body[: match.start()].rstrip()} [{number}]{match.group(1)}"
    return f"{body.rstrip(':;,')} [{number}]."


def word_deltas(text: str) -> list[str]:
    """`text` in word-sized pieces (each with the whitespace before it); they join to `text`."""
    return _DELTA.findall(text)


async def stream_words(text: str, *, delay: float = 0.0) -> AsyncIterator[str]:
    """Yield a finished answer as word-sized deltas, pausing `delay` seconds between them."""
    for piece in word_deltas(text):
        yield piece
        await asyncio.sleep(delay)


def _unit_rows(vectors: Vector) -> npt.NDArray[np.float64]:
    matrix = np.asarray(vectors, dtype=np.float64)
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.asarray(matrix / np.where(norms == 0.0, 1.0, norms), dtype=np.float64)


def _lexical_scores(question: str, sentences: Sequence[str]) -> list[float]:
    """IDF-weighted share of the question's terms found in each sentence."""
    asked = list(dict.fromkeys(terms(question)))
    bags = [set(terms(s)) for s in sentences]
    if not asked or not bags:
        return [0.0] * len(sentences)
    count = len(bags)
    idf = {t: 1.0 + math.log((count + 1) / (1 + sum(t in bag for bag in bags))) for t in asked}
    total = sum(idf.values())
    return [sum(idf[t] for t in asked if t in bag) / total for bag in bags]


def _near_duplicate(a: str, b: str) -> bool:
    left, right = set(terms(a)), set(terms(b))
    if not left or not right:
        return a.strip().lower() == b.strip().lower()
    return len(left & right) / len(left | right) >= 0.8


class ExtractiveAnswerer:
    """Answers by quoting the best-matching sentences of the passages, with citations."""

    def __init__(
        self,
        *,
        dense_weight: float = DENSE_WEIGHT,
        lexical_weight: float = LEXICAL_WEIGHT,
        max_candidates: int = MAX_CANDIDATES,
    ) -> None:
        self._dense_weight = dense_weight
        self._lexical_weight = lexical_weight
        self._max_candidates = max_candidates

    async def answer(
        self,
        question: str,
        passages: Sequence[ExtractivePassage],
        *,
        embed: Embed | None = None,
        query_vector: Vector | None = None,
        max_sentences: int = 3,
    ) -> ExtractiveAnswer:
        """The best 1..`max_sentences` sentences of `passages`, each cited by number."""
        candidates = self._candidates(question, passages)
        if not candidates:
            return ExtractiveAnswer(NOT_FOUND_ANSWER, ())
        scored = await self._score(question, candidates, len(passages), embed, query_vector)
        picked = pick_sentences(scored, max(1, max_sentences))
        order = list(dict.fromkeys(s.passage for s in picked))
        picked.sort(key=lambda s: (order.index(s.passage), s.position))
        text = " ".join(cite(s.text, s.passage) for s in picked)
        return ExtractiveAnswer(text, tuple(order), tuple(picked), picked[0].score)

    def _candidates(
        self, question: str, passages: Sequence[ExtractivePassage]
    ) -> list[ScoredSentence]:
        every = [
            ScoredSentence(text, number, position)
            for number, passage in enumerate(passages, start=1)
            for position, text in enumerate(split_sentences(passage.text))
        ]
        good = [
            s
            for s in every
            if len(s.text.split()) >= MIN_SENTENCE_WORDS and re.search(r"[^\W\d_]", s.text)
        ]
        candidates = good or every
        if len(candidates) > self._max_candidates:
            lexical = _lexical_scores(question, [c.text for c in candidates])
            best = sorted(range(len(candidates)), key=lambda i: (-lexical[i], i))
            candidates = [candidates[i] for i in sorted(best[: self._max_candidates])]
        return candidates

    async def _score(
        self,
        question: str,
        candidates: list[ScoredSentence],
        n_passages: int,
        embed: Embed | None,
        query_vector: Vector | None,
    ) -> list[ScoredSentence]:
        texts = [c.text for c in candidates]
        lexical = _lexical_scores(question, texts)
        dense: list[float] | None = None
        if embed is not None and query_vector is not None:
            vectors = _unit_rows(await embed(texts))
            if vectors.shape[0] != len(texts):
                raise ValueError(f"embed returned {vectors.shape[0]} vectors for {len(texts)}")
            dense = (vectors @ _unit_rows(query_vector)[0]).tolist()
        scored: list[ScoredSentence] = []
        for i, candidate in enumerate(candidates):
            if dense is None:
                score = lexical[i]
            else:
                score = self._dense_weight * dense[i] + self._lexical_weight * lexical[i]
            score += RANK_PRIOR * (n_passages - candidate.passage + 1) / n_passages
            scored.append(
                ScoredSentence(candidate.text, candidate.passage, candidate.position, score)
            )
        return scored


def pick_sentences(scored: list[ScoredSentence], limit: int) -> list[ScoredSentence]:
    """The best sentence, then up to `limit - 1` more that score close to it.

    Near-duplicates are skipped; among nearly tied sentences, one from a passage not cited
    yet goes first. Ties beyond that are broken by passage and position: deterministic.
    """
    remaining = sorted(scored, key=lambda s: (-s.score, s.passage, s.position))
    best = remaining[0].score
    floor = best * KEEP_RATIO if best > 0 else math.inf
    picked: list[ScoredSentence] = []
    while remaining and len(picked) < limit:
        top = remaining[0].score
        if picked and top < floor:
            break
        used = {s.passage for s in picked}
        tied = [s for s in remaining if s.score >= max(top - TIE_MARGIN, floor if picked else top)]
        choice = next((s for s in tied if s.passage not in used), tied[0])
        remaining.remove(choice)
        if not any(_near_duplicate(choice.text, s.text) for s in picked):
            picked.append(choice)
    return picked
