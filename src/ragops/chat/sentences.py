"""Sentence answers of the extractive answerer (see `chat.extractive` for the whole picture).

`sentence_answer` composes the best sentences (or table rows) of the scored units
(`chat.shapes.score_unit`), each cited by passage number: the best one, then up to two more
that score close to it (`pick_sentences`: near-duplicates skipped, a tie going to a passage
not cited yet). A sentence that leans on the one before ("Without a token, ...") is quoted
after it, and one that points at its section ("... here") or, for a procedure, whose heading
holds the command it describes is quoted under that heading.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace

from ragops.chat.definitions import defines
from ragops.chat.shapes import Context, ExtractiveAnswer, ScoredSentence, cite
from ragops.chat.terms import terms
from ragops.chat.units import Unit

TIE_MARGIN = 0.02
"""Scores this close count as tied; a tie goes to a passage not cited yet."""
KEEP_RATIO = 0.8
"""A second or third sentence needs at least this share of the best score."""


def _near_duplicate(a: str, b: str) -> bool:
    left, right = set(terms(a)), set(terms(b))
    if not left or not right:
        return a.strip().lower() == b.strip().lower()
    return len(left & right) / len(left | right) >= 0.8


def sentence_answer(
    context: Context, scored: list[tuple[Unit, float]], limit: int
) -> ExtractiveAnswer:
    """The best sentence (or table row), then up to `limit - 1` more close to it."""
    candidates = [
        ScoredSentence(u.shown or u.text, u.passage, u.position, s)
        for u, s in scored
        if u.kind in ("sentence", "row")
    ]
    if not candidates:
        candidates = [ScoredSentence(u.text, u.passage, u.position, s) for u, s in scored]
    if context.kind in ("value", "yesno", "definition"):
        limit = min(limit, 2)
    candidates = _definition_first(context, candidates)
    picked = _with_antecedents(
        _definition_goes_on(context, pick_sentences(candidates, limit), scored), scored
    )
    order = list(dict.fromkeys(s.passage for s in picked))
    picked.sort(key=lambda s: (order.index(s.passage), s.position))
    procedure = context.kind == "procedure"
    text = " ".join(
        cite(_situated(s.text, context.sections[s.passage - 1], procedure), s.passage)
        for s in picked
    )
    return ExtractiveAnswer(text, tuple(order), tuple(picked), picked[0].score, context.kind)


def _definition_first(context: Context, candidates: list[ScoredSentence]) -> list[ScoredSentence]:
    """For a definition question, the best sentence that states what the question asks about
    (`definitions.defines`: "The corpus version is a counter ...") takes the best score when it
    scores within KEEP_RATIO of it: a sentence that uses the term ("compared with the
    cached questions of the same ... corpus version") may share more of the question's
    other words, but it does not say what the term is."""
    if context.kind != "definition" or not candidates:
        return candidates
    best = max(c.score for c in candidates)
    stating = [c for c in candidates if defines(c.text, context.defined)]
    if not stating:
        return candidates
    first = max(stating, key=lambda c: c.score)
    if first.score >= best or first.score < KEEP_RATIO * best:
        return candidates
    return [replace(c, score=best + TIE_MARGIN) if c is first else c for c in candidates]


def _definition_goes_on(
    context: Context, picked: list[ScoredSentence], scored: list[tuple[Unit, float]]
) -> list[ScoredSentence]:
    """A definition goes on in its paragraph: when the first sentence states what the
    question asks about (`definitions.defines`), the sentence after it in the same paragraph or list
    item is quoted second, in place of a sentence of another passage."""
    if context.kind != "definition" or not picked or not defines(picked[0].text, context.defined):
        return picked
    first = picked[0]
    units = {(u.passage, u.position): (u, s) for u, s in scored if u.kind == "sentence"}
    here = units.get((first.passage, first.position))
    after = units.get((first.passage, first.position + 1))
    if here is None or after is None or after[0].block != here[0].block or here[0].block < 0:
        return picked
    unit, score = after
    follow = ScoredSentence(unit.shown or unit.text, unit.passage, unit.position, score)
    rest = [s for s in picked[1:] if (s.passage, s.position) != (unit.passage, unit.position)]
    return [first, follow, *rest][: max(2, len(picked))]


_REFERS_BACK = re.compile(
    r"^(?:it|this|that|these|those|they|then|otherwise|else|instead|"
    r"without\s+(?:a|an|the|it|them|one|that|this))\b",
    re.IGNORECASE,
)
"""The opening of a sentence that leans on the one before ("Without a token, everyone else
gets 403" after "With RAGOPS_METRICS_TOKEN set, ...")."""


def _with_antecedents(
    picked: list[ScoredSentence], scored: list[tuple[Unit, float]]
) -> list[ScoredSentence]:
    """`picked` with the sentence before each one that leans on it (`_REFERS_BACK`): quoted
    alone, "Without a token, ..." does not say which token. The sentence before is taken from
    the same passage's prose (not a list item), when it is not quoted already."""
    prose = {
        (u.passage, u.position): (u, s)
        for u, s in scored
        if u.kind == "sentence" and not u.in_block
    }
    out = list(picked)
    for sentence in picked:
        here = prose.get((sentence.passage, sentence.position))
        before = prose.get((sentence.passage, sentence.position - 1))
        if here is None or before is None or not _REFERS_BACK.match(sentence.text):
            continue
        if any(s.passage == sentence.passage and s.position == sentence.position - 1 for s in out):
            continue
        unit, score = before
        out.append(ScoredSentence(unit.shown or unit.text, unit.passage, unit.position, score))
    return out


_DEICTIC = re.compile(r"\b(?:here|this section|below)\b", re.IGNORECASE)
_HEADING_COMMAND = re.compile(r":\s+[a-z][\w.-]*(?:\s+[\w.|\[\]<>/=-]+)+$")
"""A heading that ends in a command ("Tampering: ragops audit-log verify")."""


def _situated(sentence: str, section: str, procedure: bool = False) -> str:
    """`sentence` prefixed by its section's heading when it points at it ("Point the liveness
    probe here" under "GET /healthz: liveness"): quoted alone it would not say what "here" is;
    and, for a procedure question, when the heading holds the command the sentence describes
    ("Tampering: ragops audit-log verify" over "Checks the audit trail's hash chain")."""
    parts = [p.strip() for p in section.split(">") if p.strip()]
    if len(parts) < 2:
        return sentence
    if _DEICTIC.search(sentence) or (procedure and _HEADING_COMMAND.search(parts[-1])):
        return f"{parts[-1]}: {sentence}"
    return sentence


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
