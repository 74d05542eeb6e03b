"""Answer shapes of the extractive answerer: scoring the units of the passages and composing
the answer a question's kind asks for (see `chat.extractive` for the whole picture).

`score_unit` scores the units of the retrieved passages (`chat.units`) for a question, with
the `Context` it needs (`build_context`), and `cite` numbers a quoted piece. The answers made
of the best sentences are in `chat.sentences`, those made of a whole block (action section,
named section, list, table, code) in `chat.blocks`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from ragops.chat.definitions import DEFINING_VERB, defined_terms, defines
from ragops.chat.evidence import neighbour_terms, section_evidence
from ragops.chat.intent import (
    QuestionKind,
    SectionKind,
    answers_steps,
    asked_section,
    question_kind,
    section_kind,
)
from ragops.chat.terms import joined_terms, question_terms, terms
from ragops.chat.units import Unit

MIN_SENTENCE_WORDS = 3
UNIT_WEIGHT = 0.55
"""Share of a unit's score from the question terms it holds itself."""
HEADING_WEIGHT = 0.25
"""Share from the terms in its passage's title and heading path."""
RETRIEVAL_WEIGHT = 0.2
"""Share from its passage's retrieval similarity (relative to the best passage)."""
LAST_HEADING_SHARE = 0.6
"""Of the heading score, the share from the passage's own (last) heading; the rest comes from
the title and the headings above it, which every passage of the document shares."""
MIN_COVERAGE = 0.34
"""A question is answered only when some document holds at least this (IDF-weighted) share
of its terms, or a passage is CONFIDENT_SIMILARITY close to it; else the passages are about
something else."""
CONFIDENT_SIMILARITY = 0.4
"""Retrieval cosine similarity at which a passage answers a question put in other words
("how are tenants isolated?") even when few of the question's words are in it."""
GIVEN_SHARE = 0.5
"""For a yes/no question, the weight in a sentence's own share of a question term that its
passage's title or headings already hold: the heading says what the section is about, the
sentence that settles the question says something more about it ("Does the liveness probe
fail when the database is down?" is settled by the liveness section's sentence about the
database, not by its "Point the liveness probe here")."""
NEIGHBOUR_SHARE = 0.2
"""Of what a sentence's neighbours in its paragraph or list item add to its share of the
question's terms, the part that counts for it."""
SECTION_WEIGHT = 0.05
"""Share from the section evidence of its passage (`evidence.section_evidence`)."""
RANK_PRIOR = 0.02
"""Bonus (scaled by retrieval rank) that lets earlier passages win exact ties."""

_FINAL_PUNCT = re.compile(r"([.!?\u2026]+)$")


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
    """Score of the best unit (0 when nothing was found)."""
    kind: str = "fact"
    """The question's kind (`chat.intent.QuestionKind`)."""


def cite(sentence: str, number: int) -> str:
    """`sentence` with ` [number]` before its final punctuation (a period added if none)."""
    body = sentence.rstrip()
    match = _FINAL_PUNCT.search(body)
    if match:
        return f"{body[: match.start()].rstrip()} [{number}]{match.group(1)}"
    return f"{body.rstrip(':;,')} [{number}]."


@dataclass(slots=True)
class Context:
    """What scoring needs to know about the question and the passages."""

    kind: QuestionKind
    asked: list[str]
    weight: dict[str, float]
    headings: list[set[str]]
    documents: list[str]
    relevance: list[float]
    sections: list[str]
    subject: str = ""
    """The stem of what a list question asks for ("types" in "which file types...")."""
    titles: list[str] = field(default_factory=list)
    measure: re.Pattern[str] | None = None
    """The figures a value question asks for (`_measure`), if it says."""
    ordinals: list[int] = field(default_factory=list)
    """Each passage's chunk number within its document (0 when unknown)."""
    joined: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Joined neighbours ("rollback" for "roll", "back"): found, they cover both parts."""
    causal: bool = False
    """The question asks for a cause ("why ...?", "what can cause ...?")."""
    steps: SectionKind | None = None
    """The kind of section that answers a procedure question whole in place of the action
    section: "diagnosis" for a question asking how to check, when a passage is one."""
    defined: frozenset[str] = frozenset()
    """The terms a definition question asks about ("corpus", "version" of "what is the corpus
    version?"); empty for other questions."""
    neighbours: dict[tuple[int, int], set[str]] = field(default_factory=dict)
    """The terms of the sentences next to each sentence in its paragraph or list item, by
    (passage, position) (`evidence.neighbour_terms`)."""
    evidence: list[float] = field(default_factory=list)
    """Each passage's section evidence (`evidence.section_evidence`)."""

    def coverage(self, bag: set[str], given: AbstractSet[str] = frozenset()) -> float:
        """The IDF-weighted share of the question's terms that `bag` holds; a term of
        `given` (what the reader already knows) weighs GIVEN_SHARE of its weight."""
        covered = {t for t in self.weight if t in bag}
        for word, parts in self.joined.items():
            if word in bag:
                covered.update(parts)
        weight = {
            t: w * GIVEN_SHARE if t in given else w
            for t, w in self.weight.items()
            if t not in self.joined
        }
        total = sum(weight.values())
        found = sum(w for t, w in weight.items() if t in covered)
        return found / total if total else 0.0


def similarity(passage: Any) -> float:
    score = getattr(passage, "score", None)
    return float(score) if isinstance(score, int | float) else 0.0


def _relevance(passages: Sequence[Any]) -> list[float]:
    """Each passage's retrieval similarity relative to the best one (rank-based without)."""
    scores: list[float] = []
    for passage in passages:
        score = getattr(passage, "score", None)
        if not isinstance(score, int | float):
            break
        scores.append(max(float(score), 0.0))
    if len(scores) == len(passages) and scores and max(scores) > 0:
        best = max(scores)
        return [score / best for score in scores]
    n = len(passages)
    return [1.0 - 0.5 * i / max(n - 1, 1) for i in range(n)]


def build_context(question: str, passages: Sequence[Any], units: list[Unit]) -> Context:
    asked = question_terms(question)
    bags = [set(terms(u.text + " " + u.lead)) for u in units]
    headings = [
        set(terms(f"{getattr(p, 'title', '') or ''} {getattr(p, 'section', '') or ''}"))
        for p in passages
    ]
    every = bags + headings
    count = len(every)
    weight = {}
    for term in asked:
        df = sum(term in bag for bag in every)
        if df or term in set(terms(question)):
            weight[term] = 1.0 + math.log((count + 1) / (1 + df))
    context = Context(
        neighbours=neighbour_terms(units, bags),
        kind=question_kind(question),
        asked=asked,
        weight=weight,
        headings=headings,
        documents=[str(getattr(p, "document_id", "") or i) for i, p in enumerate(passages)],
        relevance=_relevance(passages),
        sections=[str(getattr(p, "section", "") or "") for p in passages],
        subject=_subject(question),
        joined=joined_terms(question),
        titles=[str(getattr(p, "title", "") or "") for p in passages],
        ordinals=[_ordinal(p) for p in passages],
        measure=_measure(question),
        defined=defined_terms(question),
        causal=_CAUSAL_QUESTION.search(question) is not None,
        steps=_steps_kind(question, passages),
    )
    context.evidence = section_evidence(context, units, bags)
    return context


def _steps_kind(question: str, passages: Sequence[Any]) -> SectionKind | None:
    """ "diagnosis" when the question asks how to check and a passage is a diagnosis section
    (the action sections answer otherwise), else None."""
    if asked_section(question) != "diagnosis":
        return None
    sections = (str(getattr(p, "section", "") or "") for p in passages)
    return "diagnosis" if any(section_kind(s) == "diagnosis" for s in sections) else None


def _ordinal(passage: Any) -> int:
    ordinal = getattr(passage, "ordinal", None)
    return ordinal if isinstance(ordinal, int) else -1


_SUBJECT_START = re.compile(
    r"^\s*(?:which|what|list|name)\s+(?:(?:are|is|were)\s+)?(?:the\s+|all\s+)?", re.IGNORECASE
)
_SUBJECT_END = re.compile(
    r"\s+(?:of|for|in|on|at|to|from|with|by|that|which|does|do|did|can|could|are|is|will|"
    r"would|should|must|may|exist|there|page|get|have|has)\b|[?.!,]",
    re.IGNORECASE,
)


def _subject(question: str) -> str:
    """The last noun of what a list question asks for, stemmed ("type" for "which file types
    can be ingested?", "limit" for "what are the size limits of a request?")."""
    start = _SUBJECT_START.match(question)
    if start is None:
        return ""
    rest = question[start.end() :]
    end = _SUBJECT_END.search(rest)
    words = terms(rest[: end.start()] if end else rest)
    return words[-1] if words and len(words) <= 4 else ""


def _last_heading_terms(section: str) -> set[str]:
    """The terms of the last heading of a heading path ("Rate limits" of "HTTP > Rate limits")."""
    return set(terms(section.rsplit(">", 1)[-1]))


def document_coverage(context: Context, units: list[Unit]) -> float:
    """The best share of the question's terms that one document's passages hold."""
    by_document: dict[str, set[str]] = {}
    for unit in units:
        document = context.documents[unit.passage - 1]
        by_document.setdefault(document, set()).update(terms(unit.text + " " + unit.lead))
    for number, heading in enumerate(context.headings, start=1):
        by_document.setdefault(context.documents[number - 1], set()).update(heading)
    return max((context.coverage(bag) for bag in by_document.values()), default=0.0)


_DIGIT = re.compile(r"\d")
_NUMBER = r"\d+(?:[.,]\d+)?\s*"
_DURATION = re.compile(
    _NUMBER + r"(?:ms|s|sec|secs|seconds?|min|mins|minutes?|h|hours?|d|days?|weeks?|months?)\b",
    re.IGNORECASE,
)
_SIZE = re.compile(_NUMBER + r"(?:[kmgt]i?b|bytes?|characters?|chars?|pages?)\b", re.IGNORECASE)
_RATE = re.compile(
    r"\d+\s*(?:/|per\s+)(?:\d+\s*)?(?:s|secs?|seconds?|min|mins|minutes?|h|hours?|days?)\b",
    re.IGNORECASE,
)
_MEASURES = (
    (
        re.compile(
            r"\b(?:per|each|every)\s+(?:second|minute|hour|day)\b|\ba\s+(?:minute|hour|day)\b",
            re.IGNORECASE,
        ),
        _RATE,
    ),
    (re.compile(r"\bhow\s+(?:soon|quickly|often|fast)\b", re.IGNORECASE), _DURATION),
    (
        re.compile(r"\bhow\s+long\b", re.IGNORECASE),
        re.compile(f"{_DURATION.pattern}|{_SIZE.pattern}", re.IGNORECASE),
    ),
    (
        re.compile(
            r"\bhow\s+(?:big|large|much\s+(?:space|memory|disk))\b|\b(?:biggest|largest)\b",
            re.IGNORECASE,
        ),
        _SIZE,
    ),
)
MEASURE_BONUS = 0.06
"""Bonus for a value unit stating the measure asked for: a duration for "how long / how
soon / how quickly", a size for "how big" or "the biggest / largest ..."."""
COMMAND_ROW_BONUS = 0.1
"""Bonus for a command table's row (`units.is_command_row`) when a procedure is asked: the
command is the step, as a numbered list's steps are (the same bonus)."""
CONDITION_BONUS = 0.03
"""Bonus for a sentence stating a condition ("503 when any of reasons is present") when the
question asks for a cause: the condition under which something happens is its cause."""
_CAUSAL_QUESTION = re.compile(r"\b(?:why|caus(?:e|es|ed|ing))\b", re.IGNORECASE)
_CONDITION = re.compile(r"\b(?:when|whenever|if|while|because|unless|until)\b", re.IGNORECASE)
DEFINES_BONUS = 0.1
"""Bonus for a sentence that states what a definition question asks about (`defines`)."""


def _measure(question: str) -> re.Pattern[str] | None:
    """What a value question measures, as a pattern of the figures that state it."""
    return next((figure for asks, figure in _MEASURES if asks.search(question)), None)


def score_unit(unit: Unit, context: Context) -> float:
    given = context.headings[unit.passage - 1] if context.kind == "yesno" else frozenset()
    bag = set(terms(unit.text + " " + unit.lead))
    own = context.coverage(bag, given)
    near = (
        context.neighbours.get((unit.passage, unit.position)) if unit.kind == "sentence" else None
    )
    if near and context.kind not in ("procedure", "list"):
        own += NEIGHBOUR_SHARE * (context.coverage(bag | near, given) - own)
    if unit.kind == "table":  # a table is about what it lists more than about its details
        own = max(context.coverage(set(terms(unit.keys + " " + unit.lead))), 0.7 * own)
    section = context.sections[unit.passage - 1]
    heading = LAST_HEADING_SHARE * context.coverage(_last_heading_terms(section)) + (
        1 - LAST_HEADING_SHARE
    ) * context.coverage(context.headings[unit.passage - 1])
    relevance = context.relevance[unit.passage - 1]
    score = UNIT_WEIGHT * own + HEADING_WEIGHT * heading + RETRIEVAL_WEIGHT * relevance
    score += SECTION_WEIGHT * context.evidence[unit.passage - 1] if context.evidence else 0.0
    n = len(context.relevance)
    score += RANK_PRIOR * (n - unit.passage + 1) / n
    kind = context.kind
    if unit.kind == "sentence" and (
        len(unit.text.split()) < MIN_SENTENCE_WORDS or not re.search(r"[^\W\d_]", unit.text)
    ):
        score *= 0.5
    if kind == "procedure" and unit.kind == "list":
        score += 0.1 if unit.ordered else 0.04
    if unit.kind == "code":  # commands match many words by accident: their text counts less
        score -= 0.4 * UNIT_WEIGHT * own
    if kind == "procedure" and unit.command:  # a command and what it does: a step
        score += COMMAND_ROW_BONUS
    if kind == "procedure" and unit.kind == "code":
        score += 0.06
    elif unit.kind == "code":
        score *= 0.5  # a command answers how, not what
    if kind == "procedure" and answers_steps(context.sections[unit.passage - 1], context.steps):
        score += 0.08
    if kind == "list" and unit.kind in ("list", "table"):
        score += 0.08
        if lists_subject(context, unit):
            score += 0.1
    if kind == "value" and unit.kind in ("sentence", "row") and _DIGIT.search(unit.text):
        score += 0.04
        if context.measure is not None and context.measure.search(unit.text):
            score += MEASURE_BONUS
    if context.causal and unit.kind in ("sentence", "row") and _CONDITION.search(unit.text):
        score += CONDITION_BONUS
    if kind == "definition" and unit.kind == "sentence":
        if defines(unit.text, context.defined):
            score += DEFINES_BONUS
        elif DEFINING_VERB.search(unit.text):
            score += 0.03
    return score


def lists_subject(context: Context, unit: Unit) -> bool:
    """Whether a list or table lists what a list question asks for: its header, the
    sentence that introduces it or its section heading names the subject."""
    if context.kind != "list" or not context.subject:
        return False
    first = unit.lead.split("|", 1)[0] if unit.kind == "table" else unit.lead
    heading = context.sections[unit.passage - 1].rsplit(">", 1)[-1]
    return context.subject in terms(f"{first} {heading}")


_ENUMERATION = re.compile(r",[^,;:]+,[^;:]*\s(?:and|or)\s", re.IGNORECASE)
"""An enumeration in a sentence: "letters, digits, dots and dashes"."""


def enumerates_subject(context: Context, unit: Unit) -> bool:
    """Whether a sentence lists what a list question asks for in its own words: it names the
    subject and enumerates ("Tenant ids are 1-64 characters of letters, digits, ... and _"
    for "which characters may a tenant id contain?")."""
    return (
        context.kind == "list"
        and bool(context.subject)
        and unit.kind == "sentence"
        and _ENUMERATION.search(unit.text) is not None
        and context.subject in terms(unit.text)
    )
