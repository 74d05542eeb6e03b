"""Action sections for procedure questions: "the pool is exhausted, what now?" is answered
by the Mitigation section of the page whose Meaning section retrieval found.

Retrieval finds the passage that describes the situation; the steps are often in another
section of the same document that shares few words with the question. For a question that
asks what to do (`chat.intent`), `add_action_sections` looks at the documents of the best
passages and, when none of their retrieved passages is an action section (Mitigation,
Resolution, Rollback, ...), adds the document's action-section chunk whose heading holds the
most of the question's terms ("First response" for "what are the first steps...?"; the first
one on a tie) right after the passage that found it, with that passage's scores. A page with
several action sections (a handbook's *Procedures*, *First response* and *Rollback*) adds one
only when the question names it by a word of its heading: which one applies, a question
that names none does not say.

A passage may also name the page that holds the steps: an index table row "RagopsX | P4 |
error rate above 1 %" matches "what do I do when the error rate is above 1 %?" better than
any page retrieval found. When a line of a retrieved passage names another document
by its exact title (`MIN_TITLE_CHARS` or longer) and holds at least half of the question's
terms, that document's action section is added too. Two small database queries, only for
procedure questions. No action section is added for a document whose best passage is the
section the question names (`names_section`: "how do I scale ragops?" and "Scaling").

`promote_named_sections` is a reranking step on the retrieved candidates: a section whose own
heading the question names ("Which scopes can an API key have?" and "Scopes") is often ranked
below longer passages that repeat the question's other words. Retrieval fetches a few more
candidates than are kept, and named sections among them take the places of the last unnamed
passages (the order of the rest is kept). Before that, `rank_by_headings` reorders a wider set
of candidates (HEADING_CANDIDATES) by their fused score plus HEADING_BONUS for a named section,
so a named section far down the list reaches those few; then `set_repeats_aside` moves the
candidates that repeat a better one (the same heading, REPEAT_SHARE of its word trigrams
shared: a template section such as the *Escalation* paragraph of every runbook) behind the
others, so one copy stands for all and their places go to other pages.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache

from ragops.chat.commands import runs_subcommand, subcommand
from ragops.chat.definitions import defined_terms, defines
from ragops.chat.intent import (
    SectionKind,
    answers_steps,
    asked_section,
    question_kind,
    section_kind,
)
from ragops.chat.terms import heading_terms, names_heading, question_terms, terms
from ragops.db import Database
from ragops.documents import catalog
from ragops.documents.models import Chunk
from ragops.retrieval.service import Passage
from ragops.text.sentences import sentences_of

MAX_DOCUMENTS = 2
"""How many of the best passages' documents may contribute an action section."""
MIN_TITLE_CHARS = 10
"""Shorter titles ("Alerting") are ordinary words, not references to a page."""
LINK_COVERAGE = 0.5
"""Share of the question's terms a line must hold for the page it names to count."""


def names_section(question: str, section: str) -> bool:
    """Whether the question names the section: every term of its last heading is one of the
    question's ("Scaling" in "how do I scale ragops horizontally?")."""
    return names_heading(question_terms(question), section)


def promote_named_sections(question: str, passages: Sequence[Passage], k: int) -> list[Passage]:
    """The first `k` of `passages`, where named sections (`names_section`) beyond the first `k`
    replace the last passages that are not named; the order of the passages kept is kept."""
    head, rest = list(passages[:k]), list(passages[k:])
    extra = [p for p in rest if names_section(question, p.section)]
    if not extra:
        return head
    for passage in extra:
        unnamed = [i for i, p in enumerate(head) if not names_section(question, p.section)]
        if not unnamed:
            break
        del head[unnamed[-1]]
        head.append(passage)
    return head


HEADING_CANDIDATES = 30
"""Fused candidates whose headings are read (`rank_by_headings`)."""
HEADING_BONUS = 0.2
"""Added to the fused score of a candidate whose own heading the question names: on the
weighted fusion's 0-1 scale, it lifts such a section over passages that merely repeat the
question's other words, not over the few best candidates."""


def rank_by_headings(question: str, passages: Sequence[Passage]) -> list[Passage]:
    """`passages` (the fused candidates, best first) ordered by their fused score plus
    HEADING_BONUS for each one whose own heading the question names (`names_section`):
    "Which alerts exist besides the burn-rate alerts?" and *The other alerts*, the 23rd
    candidate by its text. Ties keep the retrieval order."""
    ranked = sorted(
        enumerate(passages),
        key=lambda item: (
            -(
                item[1].fused_score
                + (HEADING_BONUS if names_section(question, item[1].section) else 0.0)
            ),
            item[0],
        ),
    )
    return [passage for _, passage in ranked]


REPEAT_SHARE = 0.3
"""Share of its word trigrams a candidate must share with a better one to count as a repeat."""


TRIGRAM_MEMO = 512
"""Passages whose word trigrams are remembered (`_trigrams`): the passages compared are
mostly the same template sections question after question; about 30 KB each at the default
chunk size, so 15 MB at most."""


@lru_cache(maxsize=TRIGRAM_MEMO)
def _trigrams(text: str) -> frozenset[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return frozenset(zip(words, words[1:], words[2:], strict=False))


def set_repeats_aside(passages: Sequence[Passage]) -> list[Passage]:
    """`passages` (best first) with each one that repeats a better one (a section of the same
    heading sharing REPEAT_SHARE of its word trigrams: the *Escalation* paragraph every runbook
    carries) moved behind the others: one copy of a template says all the copies say, and the
    places they took go to other pages. The order is kept otherwise."""
    kept: list[Passage] = []
    repeats: list[Passage] = []
    seen: dict[str, list[str]] = {}  # heading -> texts of the kept passages under it
    for passage in passages:
        heading = passage.section.rsplit(">", 1)[-1].strip().lower()
        same = seen.setdefault(heading, [])  # trigrams are read only when headings match
        mine = _trigrams(passage.text) if same else None
        if mine and any(
            len(mine & _trigrams(theirs)) >= REPEAT_SHARE * len(mine) for theirs in same
        ):
            repeats.append(passage)
            continue
        same.append(passage.text)
        kept.append(passage)
    return kept + repeats


async def add_action_sections(
    db: Database, tenant_id: str, question: str, passages: Sequence[Passage]
) -> list[Passage]:
    """`passages` with action sections added for a procedure question (else unchanged)."""
    found = list(passages)
    if not found or question_kind(question) != "procedure":
        return found
    leads: dict[str, Passage] = {}
    for passage in found:
        if len(leads) == MAX_DOCUMENTS:
            break
        leads.setdefault(passage.document_id, passage)
    linked = await _linked_document(db, tenant_id, question, found)
    if linked is not None and linked[0] not in leads:
        leads[linked[0]] = replace(linked[1], document_id=linked[0], title=linked[2])
    steps: SectionKind | None = "diagnosis" if asked_section(question) == "diagnosis" else None
    wanted = [
        document
        for document, lead in leads.items()
        if not any(p.document_id == document and answers_steps(p.section, steps) for p in found)
        and not names_section(question, lead.section)
    ]
    rows = await catalog.document_chunks(db=db, tenant_id=tenant_id, document_ids=wanted)
    checked = {r.document_id for r in rows if steps and section_kind(r.section) == steps}
    have = {p.chunk_id for p in found}
    asked = set(question_terms(question))
    chosen: dict[str, tuple[int, Chunk]] = {}
    kinds: dict[str, set[str]] = {}  # the action sections of each document
    for row in rows:
        lead = leads[row.document_id]
        # a question asking how to check gets the page's diagnosis section, if it has one
        if not answers_steps(row.section, steps if row.document_id in checked else None):
            continue
        if row.version != lead.version and row.document_id == lead.document_id:
            continue
        kinds.setdefault(row.document_id, set()).add(row.section)
        if row.id in have:
            continue
        named = len(asked & heading_terms(row.section))  # "First response" for "first steps"
        if row.document_id not in chosen or named > chosen[row.document_id][0]:
            chosen[row.document_id] = (named, row)
    for document, (named, _) in list(chosen.items()):
        if not named and len(kinds[document]) > 1:
            del chosen[document]  # which of several the question means, it does not say
    added = {document: _from_row(leads[document], row) for document, (_, row) in chosen.items()}
    out: list[Passage] = []
    for passage in found:
        out.append(passage)
        extra = added.pop(passage.document_id, None)
        if extra is not None:
            out.append(extra)
    if linked is not None and linked[0] in added:  # after the passage that names it
        at = next(i for i, p in enumerate(out) if p.chunk_id == linked[1].chunk_id) + 1
        out.insert(at, added.pop(linked[0]))
    return out


async def _linked_document(
    db: Database, tenant_id: str, question: str, passages: Sequence[Passage]
) -> tuple[str, Passage, str] | None:
    """(document id, naming passage, title) of the page a line of `passages` names while
    matching the question best, if any line holds LINK_COVERAGE of the question's terms."""
    asked = set(terms(question))
    if not asked:
        return None
    titles = await catalog.document_titles(db=db, tenant_id=tenant_id)
    names = [t for t in titles if len(t) >= MIN_TITLE_CHARS]
    if not names:
        return None
    pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, names)) + r")(?![\w-])")
    best: tuple[float, str, Passage] | None = None
    for passage in passages:
        for line in passage.text.splitlines():
            for match in pattern.finditer(line):
                if titles[match.group(1)] == passage.document_id:
                    continue
                share = len(asked & set(terms(line))) / len(asked)
                if share >= LINK_COVERAGE and (best is None or share > best[0]):
                    best = (share, match.group(1), passage)
    if best is None:
        return None
    return titles[best[1]], best[2], best[1]


async def add_command_chunks(
    db: Database, tenant_id: str, question: str, passages: Sequence[Passage]
) -> list[Passage]:
    """`passages` and, for a procedure question whose best passage is a section titled like a
    subcommand ("secrets") when no retrieved passage of its page holds the code block that
    runs it, the page's chunk that does (read from the database), last and scored as the
    weakest passage: the answer then says
    what to run (`commands.running_command`), whichever of the page's chunks retrieval
    ranked higher. One small database query, only in that case."""
    found = list(passages)
    if not found or question_kind(question) != "procedure":
        return found
    lead = found[0]
    wanted = subcommand(lead.section)
    if wanted is None or any(
        p.document_id == lead.document_id and runs_subcommand(p.text, _quoted(p), wanted)
        for p in found
    ):
        return found
    rows = await catalog.document_chunks(
        db=db, tenant_id=tenant_id, document_ids=[lead.document_id]
    )
    for row in sorted(rows, key=lambda r: r.ordinal):
        if row.version == lead.version and runs_subcommand(row.text, row.quoted or [], wanted):
            weakest = min(found, key=lambda p: (p.score, p.fused_score))
            added = _from_row(lead, row)
            return [*found, replace(added, score=weakest.score, fused_score=weakest.fused_score)]
    return found


_STEP = re.compile(r"^\s{0,3}\d{1,3}[.)](?:\s|$)")


def ends_in_steps(text: str) -> bool:
    """Whether a chunk's text ends inside a numbered list (its last lines are a step and the
    step's indented continuation, or a step's bare number): the chunker cut the steps."""
    for line in reversed(text.rstrip().splitlines()):
        if _STEP.match(line):
            return True
        if not line.strip() or not line.startswith((" ", "\t")):
            return False
    return False


async def add_cut_steps(
    db: Database, tenant_id: str, question: str, passages: Sequence[Passage]
) -> list[Passage]:
    """`passages` and, for a procedure question, the chunk that goes on with the steps of
    each retrieved passage that ends inside a numbered list (`ends_in_steps`) when retrieval
    did not find it: the next chunk of the same section, read from the database and added
    last, scored as the weakest passage. A procedure's answer shows a cut list with the
    retrieved chunks that follow it (`blocks._following`); the steps after the cut are often
    the ones asked for, and share fewer words with the question than the first ones. One
    small database query, only for procedure questions with such a passage."""
    found = list(passages)
    if not found or question_kind(question) != "procedure":
        return found
    cut = [p for p in found if ends_in_steps(p.text)]
    if not cut:
        return found
    rows = await catalog.document_chunks(
        db=db, tenant_id=tenant_id, document_ids=sorted({p.document_id for p in cut})
    )
    at = {(r.document_id, r.version, r.ordinal): r for r in rows}
    have = {p.chunk_id for p in found}
    weakest = min(found, key=lambda p: (p.score, p.fused_score))
    for lead in cut:
        row = at.get((lead.document_id, lead.version, lead.ordinal + 1))
        if row is None or row.id in have or row.section != lead.section:
            continue
        have.add(row.id)
        added = _from_row(lead, row)
        found.append(replace(added, score=weakest.score, fused_score=weakest.fused_score))
    return found


async def add_definition_start(
    db: Database, tenant_id: str, question: str, passages: Sequence[Passage]
) -> list[Passage]:
    """`passages` and, for a definition question ("what does burn rate mean?") that no
    retrieved sentence answers (`definitions.defines`), the first chunk of the best-ranked
    retrieved section whose heading path holds what is asked about ("Burn-rate alerts"),
    when retrieval found only later chunks of it: a page states what a thing is where its
    section begins, and later chunks use the term without saying it again. The chunk is read
    from the database and added right after that passage, with its scores (the same
    section). One small database query, only in that case."""
    found = list(passages)
    defined = defined_terms(question)
    if not found or not defined:
        return found
    for passage in found:
        if any(defines(s, defined) for s in sentences_of(passage.text)):
            return found
    lead = next((p for p in found if _about(defined, p.section)), None)
    if lead is None or lead.ordinal == 0:
        return found
    rows = await catalog.document_chunks(
        db=db, tenant_id=tenant_id, document_ids=[lead.document_id]
    )
    same = [r for r in rows if r.version == lead.version and r.section == lead.section]
    first = min(same, key=lambda r: r.ordinal, default=None)
    if first is None or first.ordinal >= lead.ordinal or first.id in {p.chunk_id for p in found}:
        return found
    at = found.index(lead) + 1
    return [*found[:at], _from_row(lead, first), *found[at:]]


def _about(defined: frozenset[str], section: str) -> bool:
    """Whether a heading path names what a definition question asks about: all its terms, or
    two of them (a term of several words, the question's other words aside)."""
    held = len(defined & heading_terms(section))
    return held == len(defined) or held >= 2


def _from_row(lead: Passage, row: Chunk) -> Passage:
    """A passage for chunk `row` of `lead`'s document, with `lead`'s scores."""
    return replace(
        lead,
        chunk_id=row.id,
        section=row.section,
        text=row.text,
        start=row.start_offset,
        end=row.end_offset,
        ordinal=row.ordinal,
        payload={
            "document_id": row.document_id,
            "section": row.section,
            "quoted": row.quoted or [],
        },
        point_id=row.id,
    )


def _quoted(passage: Passage) -> list[list[int]]:
    spans = passage.payload.get("quoted") if isinstance(passage.payload, dict) else None
    return (
        [list(s) for s in spans if isinstance(s, list | tuple)] if isinstance(spans, list) else []
    )
