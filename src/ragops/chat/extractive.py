"""The extractive answerer: the embedded default (and LLM fallback) that needs no model.

It answers in the shape the question asks for (`chat.intent`): a procedure with the steps of
an action section or a numbered list, in their order; a list question with a list or a table;
a value, yes/no, definition or other question with the 1-3 sentences (or table rows) that
state it. Each piece is followed by the bracketed number of its passage: "The pool keeps 5
connections open [1]. It grows to 20 [2]."

Passages are cut into units that keep the document's structure (`chat.units`: sentences,
lists, tables, rows; code blocks left out). A unit is scored without any embedding: the
IDF-weighted share of the question's terms (stemmed, stopwords dropped, common abbreviations
and split compounds such as "roll back" / "rollback" matched) found in the unit and in its
passage's title and heading path, plus the passage's retrieval similarity and a bonus for the
shape asked for. A question whose terms the passages barely cover, and to which no passage
is close in meaning either, is answered with NOT_FOUND_ANSWER rather than with a guess. The
result is deterministic and takes a few milliseconds. `stream_words` replays a finished
answer as word-sized deltas, so extractive answers can stream too.

The scoring is in `chat.shapes`, the sentence answers in `chat.sentences`, the block answers (action
section, named section, list, table) in `chat.blocks`, the word handling in `chat.terms`, what a
definition question asks about and the sentence that states it in `chat.definitions`;
this module holds the answerer, sentence splitting and streaming.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from ragops.chat.blocks import block_answer
from ragops.chat.intent import question_kind
from ragops.chat.sentences import pick_sentences, sentence_answer
from ragops.chat.shapes import (
    CONFIDENT_SIMILARITY,
    MIN_COVERAGE,
    ExtractiveAnswer,
    ScoredSentence,
    build_context,
    cite,
    document_coverage,
    score_unit,
    similarity,
)
from ragops.chat.terms import missing_names, name_text, question_terms, terms
from ragops.chat.units import passage_units

__all__ = [
    "ANSWERER_VERSION",
    "NOT_FOUND_ANSWER",
    "ExtractiveAnswer",
    "ExtractiveAnswerer",
    "ExtractivePassage",
    "ScoredSentence",
    "cite",
    "pick_sentences",
    "question_terms",
    "split_sentences",
    "stream_words",
    "terms",
    "word_deltas",
]

ANSWERER_VERSION = 15
"""The version of the rules that choose what is answered (this answerer's, and the scope check
that runs before it and before an LLM), raised whenever they change an answer: it is part of
the answer cache's fingerprint (`cache.factory` gives it to `cache.keys.fingerprint`), so an
answer cached by older rules is not served after an upgrade."""

NOT_FOUND_ANSWER = "I could not find anything about that in the indexed documents."
"""The answer when nothing was retrieved: honest, and citing nothing."""

MAX_SENTENCE_CHARS = 400
_ABBREVIATIONS = frozenset(
    "e.g i.e etc vs cf fig figs no nos approx incl esp resp min max mr mrs ms dr st jr sr".split()
)
_FENCE = re.compile(r"^\s*(?:```|~~~)")
_HEADING = re.compile(r"^\s*#{1,6}(?:\s|$)")
_BULLET = re.compile(r"^\s*(?:[-*+\u2022]|\d{1,3}[.)])\s+")
_TABLE = re.compile(r"^\s*\|")
_RULE = re.compile(r"^\s*(?:[-*_=]\s*){3,}$")
_END = re.compile(r"[.!?\u2026]+[\"')\]\u201d\u2019]*(?=\s+[\"'(\[\u201c\u2018]?[A-Z0-9])")
_DELTA = re.compile(r"\s*\S+|\s+$")


class ExtractivePassage(Protocol):
    """What the extractive answerer needs of a retrieved passage (`title`, `section`,
    `score`, `document_id` and `payload["quoted"]` are used when present)."""

    @property
    def text(self) -> str:
        """The passage text."""
        ...


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


def word_deltas(text: str) -> list[str]:
    """`text` in word-sized pieces (each with the whitespace before it); they join to `text`."""
    return _DELTA.findall(text)


async def stream_words(text: str, *, delay: float = 0.0) -> AsyncIterator[str]:
    """Yield a finished answer as word-sized deltas, pausing `delay` seconds between them."""
    for piece in word_deltas(text):
        yield piece
        await asyncio.sleep(delay)


def _passage_quoted(passage: ExtractivePassage) -> list[tuple[int, int]]:
    payload = getattr(passage, "payload", None)
    spans = payload.get("quoted") if isinstance(payload, dict) else None
    if not isinstance(spans, list):
        return []
    return [(int(s[0]), int(s[1])) for s in spans if isinstance(s, list | tuple) and len(s) == 2]


class ExtractiveAnswerer:
    """Answers by quoting the best-matching units of the passages, with citations."""

    def __init__(self, *, min_coverage: float = MIN_COVERAGE) -> None:
        self._min_coverage = min_coverage

    async def answer(
        self,
        question: str,
        passages: Sequence[ExtractivePassage],
        *,
        max_sentences: int = 3,
    ) -> ExtractiveAnswer:
        """The answer to `question` from `passages` (see the module docstring)."""
        return self.answer_now(question, passages, max_sentences=max_sentences)

    def answer_now(
        self,
        question: str,
        passages: Sequence[ExtractivePassage],
        *,
        max_sentences: int = 3,
    ) -> ExtractiveAnswer:
        """`answer`, synchronously."""
        units = [
            unit
            for number, passage in enumerate(passages, start=1)
            for unit in passage_units(number, passage.text, _passage_quoted(passage))
        ]
        if not units:
            return ExtractiveAnswer(NOT_FOUND_ANSWER, ())
        if missing_names(question, [name_text(p) for p in passages]):
            return ExtractiveAnswer(NOT_FOUND_ANSWER, (), kind=question_kind(question))
        context = build_context(question, passages, units)
        similar = max((similarity(p) for p in passages), default=0.0) >= CONFIDENT_SIMILARITY
        if (
            context.weight
            and not similar
            and document_coverage(context, units) < self._min_coverage
        ):
            return ExtractiveAnswer(NOT_FOUND_ANSWER, (), kind=context.kind)
        scored = [(unit, score_unit(unit, context)) for unit in units]
        block = block_answer(context, scored)
        if block is not None:
            return block
        return sentence_answer(context, scored, max(1, max_sentences))
