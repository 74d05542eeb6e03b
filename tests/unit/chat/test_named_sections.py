"""Sections the question names by their heading: retrieval promotes them among its
candidates, and the extractive answerer answers a procedure or list question from them; a
table the chunker cut is answered whole from the chunks that continue it."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ragops.chat.extractive import ExtractiveAnswerer
from ragops.chat.sections import (
    HEADING_BONUS,
    names_section,
    promote_named_sections,
    rank_by_headings,
)
from ragops.retrieval.service import Passage


@dataclass(frozen=True)
class DocPassage:
    """A passage of a known document, with its chunk number."""

    title: str
    section: str
    text: str
    document_id: str
    ordinal: int = 0
    score: float = 0.5
    """Retrieval's cosine similarity."""


def test_a_question_names_a_section_when_it_holds_every_term_of_its_heading() -> None:
    question = "How do I scale ragops horizontally?"
    assert names_section(question, "Runbooks > Scaling")
    assert not names_section(question, "Runbooks > Severity levels")
    assert not names_section(question, "Scaling")  # a page's title names the whole page
    assert names_section("How do I roll back a release?", "Runbooks > Rollback")


def _passage(section: str, number: int) -> Passage:
    return Passage(
        chunk_id=f"c{number}",
        document_id="d",
        version=1,
        title="Runbooks",
        section=section,
        text="...",
        start=0,
        end=3,
        ordinal=number,
        score=0.5,
        fused_score=1.0 / number,
        payload={},
    )


def _fused(section: str, number: int, fused: float) -> Passage:
    return replace(_passage(section, number), fused_score=fused)


def test_a_named_section_far_down_the_candidates_is_lifted_by_its_heading() -> None:
    found = [
        _fused("Alerting > Burn-rate alerts", 1, 0.95),
        _fused("Alerting > Service level objectives", 2, 0.60),
        _fused("Alerting > Routing", 3, 0.50),
        _fused("Alerting > The other alerts", 4, 0.45),
    ]
    ranked = rank_by_headings("Which alerts exist besides the burn-rate alerts?", found)
    assert [p.section for p in ranked] == [
        "Alerting > Burn-rate alerts",
        "Alerting > The other alerts",
        "Alerting > Service level objectives",
        "Alerting > Routing",
    ]


def test_the_heading_bonus_does_not_lift_a_section_over_the_clearly_best_ones() -> None:
    found = [
        _fused("Runbooks > CPU", 1, 0.9),
        _fused("Runbooks > Memory", 2, 0.5),
        _fused("Runbooks > Scaling", 3, 0.9 - HEADING_BONUS - 0.05),
    ]
    ranked = rank_by_headings("How do I scale ragops horizontally?", found)
    assert [p.section for p in ranked] == [
        "Runbooks > CPU",
        "Runbooks > Scaling",
        "Runbooks > Memory",
    ]


def test_without_a_named_section_the_retrieval_order_is_kept() -> None:
    found = [_fused(f"Runbooks > Part {n}", n, 0.5) for n in range(1, 5)]
    ranked = rank_by_headings("How do I scale ragops horizontally?", found)
    assert ranked == found


def test_named_sections_beyond_top_k_replace_the_last_unnamed_passages() -> None:
    found = [
        _passage("Runbooks > CPU", 1),
        _passage("Runbooks > Memory", 2),
        _passage("Runbooks > Latency", 3),
        _passage("Runbooks > Index", 4),
        _passage("Runbooks > Scaling", 5),
    ]
    kept = promote_named_sections("How do I scale ragops horizontally?", found, 3)
    assert [p.chunk_id for p in kept] == ["c1", "c2", "c5"]
    unnamed = promote_named_sections("What is the memory limit?", found[:2] + found[3:4], 3)
    assert [p.chunk_id for p in unnamed] == ["c1", "c2", "c4"]


SCALING = DocPassage(
    "Runbooks",
    "Runbooks > Scaling",
    "CPU above 80 % adds an instance. Horizontal: raise the instance count in the platform; "
    "the load balancer spreads traffic. Vertical: a larger instance type.",
    "runbooks",
    score=0.3,
)
CPU_MITIGATION = DocPassage(
    "RagopsCPUHigh",
    "RagopsCPUHigh > Mitigation",
    "- Add an instance when CPU stays high.\n- Profile the hot path of ragops.",
    "cpu",
    score=0.35,
)


async def test_a_procedure_question_naming_a_section_gets_that_section_whole() -> None:
    answer = await ExtractiveAnswerer().answer(
        "How do I scale ragops horizontally?", [CPU_MITIGATION, SCALING]
    )
    assert answer.cited == (2,)
    assert answer.text.startswith("Scaling (Runbooks) [2]:\n")
    assert "raise the instance count" in answer.text


async def test_a_named_section_the_question_barely_matches_does_not_win() -> None:
    errors = DocPassage("HTTP API", "HTTP API > Errors", "Errors are JSON objects.", "api")
    mitigation = DocPassage(
        "RagopsAvailabilityFastBurn",
        "RagopsAvailabilityFastBurn > Mitigation",
        "When the error rate is above 1 % of requests:\n\n1. Roll back the last deploy.\n"
        "2. Check the error logs of the failing route.",
        "burn",
    )
    answer = await ExtractiveAnswerer().answer(
        "What do I do when the error rate is above 1%?", [errors, mitigation]
    )
    assert answer.cited == (2,)
    assert "Roll back the last deploy" in answer.text


async def test_a_list_question_gets_the_table_of_the_section_it_names() -> None:
    admin = DocPassage(
        "HTTP API",
        "HTTP API > Admin",
        "With a key of scope admin, for its own tenant only:\n\n"
        "- GET /v1/admin/keys: the tenant's API keys and their scopes.\n"
        "- POST /v1/admin/keys: a new API key with the scopes asked for.\n"
        "- POST /v1/admin/keys/{id}/revoke: the key stops working.",
        "api",
    )
    scopes = DocPassage(
        "Authentication",
        "Authentication > Scopes",
        "| scope | allows |\n|---|---|\n| chat | asking questions |\n| ingest | uploading |\n"
        "| admin | managing keys |",
        "auth",
    )
    answer = await ExtractiveAnswerer().answer("Which scopes can an API key have?", [admin, scopes])
    assert answer.cited == (2,)
    assert "- ingest: allows: uploading" in answer.text


async def test_a_table_cut_by_the_chunker_is_answered_from_its_continuation() -> None:
    first = DocPassage(
        "HTTP API",
        "HTTP API > Errors",
        "| status | code | when |\n|---|---|---|\n| 401 | unauthorized | no key |\n"
        "| 403 | forbidden | the key lacks the scope |",
        "api",
        ordinal=4,
    )
    rest = replace(
        first,
        text="| 429 | rate_limited | too many requests |\n| 503 | unavailable | down |",
        ordinal=5,
    )
    unrelated = replace(rest, section="HTTP API > Chat", text="| 200 | ok | answered |", ordinal=6)
    answer = await ExtractiveAnswerer().answer(
        "Which error codes can the HTTP API return?", [first, unrelated, rest]
    )
    assert answer.cited == (1,)
    lines = answer.text.splitlines()
    assert [line.split(":")[0] for line in lines[1:]] == ["- 401", "- 403", "- 429", "- 503"]


def test_the_action_section_holding_the_best_step_beats_a_pages_unrelated_one() -> None:
    # the reference page matches best through its Consistency section, but its only action
    # section (a rollback drill) says nothing of it; the runbook's Mitigation holds the step
    cli = DocPassage(
        "Command line",
        "Command line > Consistency",
        "Every row of the database has one entry in the index.\n\n"
        "- index check lists the stale entries of each collection and the rows without one;\n"
        "- index repair re-creates the missing entries.\n",
        "cli",
        ordinal=8,
        score=0.45,
    )
    drill = DocPassage(
        "Command line",
        "Command line > Rollback drill",
        "The rollback drill practises a rollback between two releases.",
        "cli",
        ordinal=12,
        score=0.45,
    )
    mitigation = DocPassage(
        "DiskAlert",
        "DiskAlert > Mitigation",
        "- Disk full: grow the volume.\n"
        "- After recovery: deletes during the outage left stale entries; index purge removes "
        "the stale entries.\n",
        "disk",
        ordinal=6,
        score=0.32,
    )
    answer = ExtractiveAnswerer().answer_now(
        "What are stale entries, and how do I get rid of them?", [cli, drill, mitigation]
    )
    assert answer.cited == (3,)
    assert answer.text.startswith("Mitigation (DiskAlert) [3]:")
    assert "index purge removes the stale entries" in answer.text


def test_a_numbered_list_cut_into_one_step_chunks_answers_from_its_first_retrieved_step() -> None:
    before = DocPassage(
        "Recovery",
        "Recovery > Before you start",
        "1. Declare an incident.\n2. Stop the writers.\n",
        "rec",
        ordinal=1,
        score=0.6,
    )
    restore = DocPassage(  # the chunker cut the steps of this section one chunk a step
        "Recovery",
        "Recovery > From a dump",
        "2. Restore the dump into a new target with the restore command.\n",
        "rec",
        ordinal=4,
        score=0.6,
    )
    point = DocPassage(
        "Recovery",
        "Recovery > From a dump",
        "3. Point the service at the restored dump and start the service.\n",
        "rec",
        ordinal=5,
        score=0.7,
    )
    answer = ExtractiveAnswerer().answer_now(
        "How do I restore the service from a dump?", [point, before, restore]
    )
    assert answer.text.startswith("From a dump (Recovery) [")
    assert "Declare an incident" not in answer.text
    steps = answer.text.splitlines()[1:]
    assert steps == [
        "2. Restore the dump into a new target with the restore command.",
        "3. Point the service at the restored dump and start the service.",
    ]
    # a question that does not name the section: the cut list still answers from step 2 on
    answer = ExtractiveAnswerer().answer_now(
        "How do I restore the service?", [point, before, restore]
    )
    assert answer.text.splitlines()[1:] == steps


def test_a_topical_action_section_does_not_answer_for_its_page() -> None:
    # "Rollback drill" is an action section about a drill: the reference page matched through
    # its Consistency section, whose steps answer
    cli = DocPassage(
        "Command line",
        "Command line > Consistency",
        "Every row of the database has one entry in the index.\n\n"
        "- index check lists the stale entries of each collection and the rows without one;\n"
        "- index purge removes the stale entries.\n",
        "cli",
        ordinal=8,
        score=0.45,
    )
    drill = DocPassage(
        "Command line",
        "Command line > Rollback drill",
        "The rollback drill practises a rollback between two releases.",
        "cli",
        ordinal=12,
        score=0.45,
    )
    answer = ExtractiveAnswerer().answer_now(
        "What are stale entries, and how do I get rid of them?", [cli, drill]
    )
    assert answer.cited == (1,)
    assert "index purge removes the stale entries" in answer.text
    assert "rollback drill" not in answer.text.lower()
