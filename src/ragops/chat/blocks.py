"""Block answers of the extractive answerer: the action section, the section the question
names, the list, table or code block that answers a procedure or list question whole (see
`chat.extractive` for the whole picture, `chat.shapes` for the scoring).
"""

from __future__ import annotations

import re

from ragops.chat.commands import running_command
from ragops.chat.intent import answers_steps, is_topical_action
from ragops.chat.render import render_section
from ragops.chat.shapes import Context, ExtractiveAnswer, cite, enumerates_subject, lists_subject
from ragops.chat.terms import heading_terms, named_terms, names_heading, names_order, terms
from ragops.chat.units import Unit

LIST_ITEM_CHARS = 150
"""A list answers a list question when its items average at most this many characters."""
BLOCK_RATIO = 0.75
"""A list or table answers a list or procedure question when it scores at least this share
of the best unit."""
RIVAL_HEADING = 0.4
"""A section whose heading holds this share of a procedure question's terms answers it
itself, rather than an action section."""
NAMED_RATIO = 0.85
"""A section the question names by its heading (`terms.names_heading`) answers a procedure
question whole, and its list or table a list question, when it scores at least this share
of the best unit."""
CONTINUED_CHARS = 2400
"""A table or list that the chunker cut is continued from the following retrieved chunks up
to this many characters."""
ACTION_SELF_WEIGHT = 0.8
"""Share of an action section's own score that counts for its document (see _action_section)."""
MIN_TITLE_CHARS = 10
"""A document title this long, found in another passage's line, names that document."""


def block_answer(context: Context, scored: list[tuple[Unit, float]]) -> ExtractiveAnswer | None:
    """A list, table or action section answering a procedure or list question, if any."""
    if context.kind not in ("procedure", "list"):
        return None
    best = max(score for _, score in scored)
    if context.kind == "procedure":
        section = _action_section(context, scored, best)
        if section is not None:
            return section
    blocks = [
        (u, s)
        for u, s in scored
        if (u.kind in ("list", "table") and (u.items >= 2 or _cut_list(u)))
        or (u.kind == "code" and u.lead)
        or (u.kind == "row" and u.command)
    ]
    if context.kind == "procedure":  # steps: a list, code, or a command table's row
        blocks = [(u, s) for u, s in blocks if u.kind in ("list", "code", "row")]
    else:  # a list of things, not a list of long statements (those answer as sentences)
        blocks = [
            (u, s)
            for u, s in blocks
            if u.kind == "table" or (u.kind == "list" and len(u.text) <= LIST_ITEM_CHARS * u.items)
        ]
    if not blocks:
        return None
    subject = [(u, s) for u, s in blocks if lists_subject(context, u) and s >= 0.5 * best]
    named = [(u, s) for u, s in blocks if _named(context, u.passage) and s >= NAMED_RATIO * best]
    titled = [  # the section is named and its heading is what the list question asks for
        (u, s)
        for u, s in subject
        if _named(context, u.passage)
        and context.subject in heading_terms(context.sections[u.passage - 1])
    ]
    unit, score = max(
        titled or named or subject or blocks,
        key=lambda us: (
            named_terms(context.asked, context.sections[us[0].passage - 1])
            if titled or named
            else 0,
            us[1],
            _describes(context, us[0]),
            -us[0].passage,
            -us[0].position,
        ),
    )
    if score < BLOCK_RATIO * best and not subject and not named:
        return None
    if not named and not any(u is unit for u, _ in subject):
        # a list that does not list the subject loses to a sentence enumerating it
        listing = [s for u, s in scored if enumerates_subject(context, u)]
        if listing and max(listing) >= score:
            return None
    unit = _list_start(context, scored, unit)
    intro = unit.lead.rstrip(" :") if unit.kind in ("list", "code") else ""
    if len(intro.split()) < 3:  # "Then:" says less than the section's title
        intro = _section_title(context.sections[unit.passage - 1])
    body = unit.text
    if unit.kind in ("table", "list"):
        body = "\n".join([body, *_continued(context, scored, unit, body)])
        body = "\n".join([*_step_before(scored, unit), body])
    text = f"{cite(intro, unit.passage).rstrip('.')}:\n{body}"
    return ExtractiveAnswer(text, (unit.passage,), score=score, kind=context.kind)


def _describes(context: Context, unit: Unit) -> float:
    """How much of the question a command row's description holds (the rest of the row
    without its command): of the rows of one command table, which all name the same program
    and score alike, the one saying what the question asks for answers."""
    if not unit.command:
        return 0.0
    return context.coverage(set(terms(unit.text.removeprefix(unit.command))))


def _continued(
    context: Context, scored: list[tuple[Unit, float]], unit: Unit, shown: str
) -> list[str]:
    """The rest of a list or table that the chunker cut: the blocks of the same kind that
    open the retrieved chunks following `unit`'s passage in the same section, while within
    CONTINUED_CHARS, without the items the overlapping chunks share."""
    used = len(shown)
    parts: list[str] = []
    for following in _following(context, unit.passage):
        units = [u for u, _ in scored if u.passage == following and not u.in_block]
        while units and units[0].kind == "sentence" and units[0].text.rstrip(".") in shown:
            units.pop(0)  # the overlap: the end of the last item, repeated
        if not units or units[0].kind != unit.kind or used + len(units[0].text) > CONTINUED_CHARS:
            break
        seen = {_row_key(row) for text in [*parts, shown] for row in text.splitlines()}
        new = [row for row in units[0].text.splitlines() if _row_key(row) not in seen]
        parts.append("\n".join(new))
        used += len(units[0].text)
    return [part for part in parts if part]


_ITEM_MARK = re.compile(r"^(?:- |\d{1,3}\. )")


def _row_key(row: str) -> str:
    """A rendered row's first cell (an item's text before its first colon, without its
    number): chunks overlap, and a row or item shown once is not repeated."""
    return _ITEM_MARK.sub("", row.split(": ", 1)[0])


def _action_section(
    context: Context, scored: list[tuple[Unit, float]], best: float
) -> ExtractiveAnswer | None:
    """The whole action section (Mitigation, Rollback...) of the best-matching document.

    A document scores as its best unit, or as the best line of another passage that names
    it by title (an index row "RagopsX | P4 | error rate above 1 %"); such a line lends its
    score to the page it names, not to its own. Action sections count less for their own
    document (`ACTION_SELF_WEIGHT`): the question describes a situation, they the remedy.
    No action section is used when the question names another section better (its heading
    holds `RIVAL_HEADING` of the question's terms or more), and that section answers whole
    itself when it has steps (a list or code) and holds the best unit ("Vertical scaling
    (bigger instances)" for "how do I move to bigger instances?"); an action section whose own
    heading holds that share ("First response" for "what are the first steps when an alert
    fires?") answers even when another document describes the situation better. A retrieved
    section whose heading
    the question names outright (`terms.names_heading`: "how do I scale ragops?" and
    "Scaling") is the answer itself, action section or not. An action section that holds the
    best unit of all passages answers before one that only inherits its page's score (a
    reference page's rollback drill, when its consistency section matched the question).
    """
    passage_best: dict[int, float] = {}
    for unit, score in scored:
        passage_best[unit.passage] = max(passage_best.get(unit.passage, 0.0), score)
    page_best: dict[str, float] = {}
    for n, score in passage_best.items():
        page_best[context.documents[n - 1]] = max(page_best.get(context.documents[n - 1], 0), score)

    def leads(n: int) -> bool:
        """A named section scores near the best; one named by its order word ("Before you
        start") when its page does: its own words are seldom the question's."""
        if names_order(context.asked, context.sections[n - 1]) and n in passage_best:
            return page_best[context.documents[n - 1]] >= NAMED_RATIO * best
        return passage_best.get(n, 0.0) >= NAMED_RATIO * best

    named_here = [n for n in range(1, len(context.sections) + 1) if _named(context, n) and leads(n)]
    if named_here:
        titled = _titled_actions(context, passage_best)
        chosen = max(
            [*named_here, *titled],
            key=lambda n: (
                names_order(context.asked, context.sections[n - 1]),
                titled.get(n, 0) or named_terms(context.asked, context.sections[n - 1]),
                passage_best.get(n, 0.0),
                -n,
            ),
        )
        return _whole_section(context, scored, chosen, best)
    actions = {
        u.passage
        for u, _ in scored
        if answers_steps(context.sections[u.passage - 1], context.steps)
    }
    if not actions:
        return None
    named = {
        context.documents[n - 1]: title
        for n, title in enumerate(context.titles, start=1)
        if len(title) >= MIN_TITLE_CHARS
    }
    by_passage: dict[int, float] = {}
    documents: dict[str, float] = {}  # how well each document describes the situation
    for unit, score in scored:
        own = context.documents[unit.passage - 1]
        others = [d for d, title in named.items() if d != own and title in unit.text]
        for document in others:
            documents[document] = max(documents.get(document, 0.0), score)
        if not others:
            by_passage[unit.passage] = max(by_passage.get(unit.passage, 0.0), score)
            weight = ACTION_SELF_WEIGHT if unit.passage in actions else 1.0
            documents[own] = max(documents.get(own, 0.0), weight * score)

    def heading(n: int) -> float:
        return context.coverage(set(terms(context.sections[n - 1].rsplit(">", 1)[-1])))

    def page(n: int) -> float:
        """How well the page of action section `n` describes the situation; a topical action
        section ("Rollback drill") the question does not name speaks only for itself."""
        if is_topical_action(context.sections[n - 1].rsplit(">", 1)[-1]) and not heading(n):
            return ACTION_SELF_WEIGHT * by_passage.get(n, 0.0)
        return documents.get(context.documents[n - 1], 0.0)

    def rank(n: int) -> float:
        return page(n) + 0.25 * by_passage.get(n, 0.0)

    number = min(actions, key=lambda n: (-(rank(n) + heading(n)), n))
    holding = [n for n in actions if by_passage.get(n, 0.0) >= best]
    if holding and number not in holding:
        number = min(holding)  # the remedy that matches best is the answer itself
    rivals = [n for n in by_passage if n not in actions]
    rival = max((heading(n) for n in rivals), default=0.0)
    if rival >= RIVAL_HEADING and rival > heading(number):
        # a section with steps (a list or code) whose heading holds that share of the
        # question's terms answers whole when it also holds the best unit
        stepped = {u.passage for u, _ in scored if u.kind in ("list", "code")}
        leaders = [
            n
            for n in rivals
            if heading(n) >= RIVAL_HEADING and n in stepped and by_passage[n] >= best
        ]
        if leaders:
            return _whole_section(context, scored, min(leaders), best)
        return None
    top = max(documents.values())
    if page(number) < 0.85 * top and (heading(number) < RIVAL_HEADING):
        return None
    return _whole_section(context, scored, number, best)


TITLE_NAMED_SHARE = 0.5
"""A question names a page by its title when it holds this share of the title's terms (at
least MIN_TITLED_TERMS of them): "the low cache hit rate alert" and RagopsCacheHitRateLow."""
MIN_TITLED_TERMS = 3


def _titled_actions(context: Context, passage_best: dict[int, float]) -> dict[int, int]:
    """The action sections of the pages the question names by their title, each with the
    number of the title's terms it names, when the page has one action section among the
    passages: of a section named by its heading and the remedy of a page named by its whole
    title, the one named by more of the question's words is meant."""
    asked = set(context.asked)
    found: dict[str, list[int]] = {}
    for n in passage_best:
        if answers_steps(context.sections[n - 1], context.steps):
            found.setdefault(context.documents[n - 1], []).append(n)
    out: dict[int, int] = {}
    for numbers in found.values():
        sections = {context.sections[n - 1] for n in numbers}
        title = set(terms(context.titles[numbers[0] - 1]))
        named = len(title & asked)
        if (
            len(sections) == 1
            and named >= MIN_TITLED_TERMS
            and named >= TITLE_NAMED_SHARE * len(title)
        ):
            out[min(numbers)] = named
    return out


def _named(context: Context, number: int) -> bool:
    return names_heading(context.asked, context.sections[number - 1])


def _whole_section(
    context: Context, scored: list[tuple[Unit, float]], number: int, best: float
) -> ExtractiveAnswer | None:
    """Passage `number` rendered whole under its section title, as a procedure's answer;
    a section the chunker cut starts at its first retrieved chunk and goes on with the
    retrieved chunks that follow it (the steps after the cut), their overlap left out."""
    while (before := _preceding(context, number)) is not None:
        number = before  # a cut section is shown from its first retrieved chunk
    units = [u for u, _ in scored if u.passage == number]
    for following in _following(context, number):
        shown = "\n".join(u.text for u in units)
        units += [  # the overlap of the chunks is shown once
            u for u, _ in scored if u.passage == following and u.text.rstrip(".") not in shown
        ]
    score = {id(u): s for u, s in scored}
    top = max(units, key=lambda u: score.get(id(u), 0.0), default=None)
    body = render_section(units, keep=top)
    if not body:
        return None
    title = _section_title(context.sections[number - 1])
    text = f"{cite(title, number).rstrip('.')}:\n{body}"
    command = (
        running_command(context, scored, number, body) if context.kind == "procedure" else None
    )
    if command is None:
        return ExtractiveAnswer(text, (number,), score=best, kind=context.kind)
    line, passage = command  # the section describes a subcommand; the page's usage runs it
    text += f"\nRun it with: {line} [{passage}]"
    return ExtractiveAnswer(text, (number, passage), score=best, kind=context.kind)


_FIRST_NUMBER = re.compile(r"^(\d{1,3})\. ")


def _step_before(scored: list[tuple[Unit, float]], unit: Unit) -> list[str]:
    """The end of the step before a cut list's first one ("1. …into a scratch directory ...:
    ragops backup verify FILE"), when no retrieved chunk holds the list's start (`_list_start`
    found none): the chunker cut inside that step, and the prose its chunk holds before the
    list is that step's end, often the command it runs."""
    first = _FIRST_NUMBER.match(unit.text) if _cut_list(unit) else None
    if first is None:
        return []
    before = [
        u.text
        for u, _ in scored
        if u.passage == unit.passage
        and u.kind == "sentence"
        and not u.in_block
        and u.position < unit.position
    ]
    return [f"{int(first.group(1)) - 1}. \u2026{' '.join(before)}"] if before else []


def _cut_list(unit: Unit) -> bool:
    """Whether `unit` is the rest of a numbered list the chunker cut: its first step is not
    step 1 ("3. Point the service at the restored data"), so the list has more steps than the
    chunk shows, however few are in it."""
    first = _FIRST_NUMBER.match(unit.text) if unit.kind == "list" and unit.ordered else None
    return first is not None and int(first.group(1)) > 1


def _list_start(context: Context, scored: list[tuple[Unit, float]], unit: Unit) -> Unit:
    """The list that `unit` goes on from, when the chunker cut it and the retrieved chunk
    before it in the same section ends in that list: the answer starts at the earlier steps
    (and goes on with `unit`'s, see `_continued`)."""
    while _cut_list(unit):
        before = _preceding(context, unit.passage)
        lists = [u for u, _ in scored if u.passage == before and u.kind == "list"]
        if before is None or not lists or lists[-1].ordered != unit.ordered:
            break
        unit = lists[-1]
    return unit


def _preceding(context: Context, number: int) -> int | None:
    """The retrieved passage just before passage `number` in the same section, if any."""
    key = (context.documents[number - 1], context.sections[number - 1])
    ordinal = context.ordinals[number - 1]
    return next(
        (
            n
            for n in range(1, len(context.sections) + 1)
            if ordinal > 0
            and (context.documents[n - 1], context.sections[n - 1]) == key
            and context.ordinals[n - 1] == ordinal - 1
        ),
        None,
    )


def _following(context: Context, number: int) -> list[int]:
    """The retrieved passages that continue passage `number` in the same section, in order."""
    at = {
        (context.documents[n - 1], context.sections[n - 1], context.ordinals[n - 1]): n
        for n in range(1, len(context.sections) + 1)
    }
    key = (context.documents[number - 1], context.sections[number - 1])
    ordinal = context.ordinals[number - 1]
    out: list[int] = []
    while ordinal >= 0 and (following := at.get((*key, ordinal + 1))) is not None:
        out.append(following)
        ordinal += 1
    return out


def _section_title(section: str) -> str:
    """ "Mitigation (RagopsDBPoolWaiters)" for "RagopsDBPoolWaiters > Mitigation"."""
    parts = [p.strip() for p in section.split(">") if p.strip()]
    if not parts:
        return "From the documentation"
    if len(parts) == 1:
        return parts[0]
    return f"{parts[-1]} ({parts[0]})"
