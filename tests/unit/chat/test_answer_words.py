"""How the extractive answerer reads words and structure: percent signs, what a question
sets aside, headings a question names, cut lists and the commands of steps."""

from __future__ import annotations

from dataclasses import dataclass

from ragops.chat.extractive import ExtractiveAnswerer
from ragops.chat.prompts import TextPassage
from ragops.chat.shapes import defined_terms, defines
from ragops.chat.terms import named_terms, names_heading, question_terms, terms
from ragops.chat.units import passage_units


def test_a_percent_sign_reads_as_the_word() -> None:
    assert terms("CPU above 80 %") == terms("cpu above 80 percent") == ["cpu", "80", "percent"]


def test_what_a_question_sets_aside_is_not_asked_for() -> None:
    asked = question_terms("Which alerts exist besides the burn-rate alerts?")
    assert "alert" in asked
    assert not {"burn", "rate"} & set(asked)
    assert "burn" in question_terms("Which burn-rate alerts exist?")


def test_a_title_of_several_words_names_the_page_intro() -> None:
    asked = question_terms("Which commands does the ragops command line offer?")
    assert names_heading(asked, "Command line")
    assert names_heading(asked, "On-call > Commands")
    assert named_terms(asked, "Command line") > named_terms(asked, "On-call > Commands")
    assert not names_heading(question_terms("How do I change an alert?"), "Alerting")


def test_a_list_cut_by_the_chunker_keeps_its_numbers_and_a_step_its_command() -> None:
    text = (
        "3. Restore into a new target:\n\n"
        "       ragops backup restore FILE  # new dir\n\n"
        "4. Check it."
    )
    code = text.index("       ragops")
    units = passage_units(
        1, text, [(code, code + len("       ragops backup restore FILE  # new dir\n"))]
    )
    assert units[0].kind == "list"
    assert units[0].text.splitlines() == [
        "3. Restore into a new target: `ragops backup restore FILE`",
        "4. Check it.",
    ]


async def test_a_value_question_about_time_gets_the_duration() -> None:
    keys = TextPassage(
        "API",
        "API > Idempotency keys",
        "| answer | when |\n|---|---|\n"
        "| 400 invalid_idempotency_key | the header is empty or too long |\n\n"
        "A retry with the same idempotency key gets the first answer for RAGOPS_KEY_HOURS (24 h).",
    )
    answer = await ExtractiveAnswerer().answer("How long is an idempotency key remembered?", [keys])
    assert answer.kind == "value"
    assert "RAGOPS_KEY_HOURS (24 h) [1]." in answer.text  # not only the "too long" row


async def test_a_sentence_pointing_at_its_section_is_quoted_under_its_heading() -> None:
    probe = TextPassage(
        "Observability",
        "Observability > Probes > GET /healthz: liveness",
        "It touches no dependency. Point the liveness probe here.",
    )
    answer = await ExtractiveAnswerer().answer(
        "Which endpoint should the liveness probe use?", [probe]
    )
    assert answer.text == "GET /healthz: liveness: Point the liveness probe here [1]."


@dataclass(frozen=True)
class Chunk:
    """A retrieved chunk: its section, document and place in it."""

    text: str
    ordinal: int
    title: str = "Scaling"
    section: str = "Scaling > Horizontal scaling"
    document_id: str = "scaling"
    score: float = 0.5


async def test_steps_the_chunker_cut_go_on_from_the_next_retrieved_chunk() -> None:
    first = Chunk("1. Check the trigger.\n2. Check the shared parts can take more. 3.", 2)
    second = Chunk("take more.\n\n3. Raise the instance count by one.\n4. Watch the p95.", 3)
    answer = await ExtractiveAnswerer().answer("How do I scale horizontally?", [first, second])
    assert answer.text.splitlines()[1:] == [
        "1. Check the trigger.",
        "2. Check the shared parts can take more.",
        "3. Raise the instance count by one.",
        "4. Watch the p95.",
    ]


async def test_a_long_sentence_is_quoted_past_the_scoring_cut() -> None:
    fields = ", ".join(f"field {i}" for i in range(50))
    text = f"The postmortem holds: {fields}, and the root cause."
    answer = await ExtractiveAnswerer().answer(
        "What does the postmortem hold?", [TextPassage("Incidents", "Incidents > Postmortem", text)]
    )
    assert 400 < len(text) < 600
    assert "root cause" in answer.text


async def test_a_section_with_steps_named_by_the_question_beats_another_page_s_mitigation() -> None:
    vertical = Chunk(
        "Bigger instances on the host: Settings, Instance Type, Standard to Pro. Do it when:\n\n"
        "- memory passes 85 %;\n- one core is saturated.",
        0,
        section="Scaling > Vertical scaling (bigger instances)",
        document_id="scaling",
        score=0.5,
    )
    cpu = Chunk(
        "- Traffic growth: add an instance, or a larger instance type.\n"
        "- Regression after a deploy: roll back.",
        0,
        title="RagopsCPUHigh",
        section="RagopsCPUHigh > Mitigation",
        document_id="cpu",
        score=0.5,
    )
    answer = await ExtractiveAnswerer().answer(
        "How do I move to bigger instances?", [vertical, cpu]
    )
    assert answer.cited == (1,)
    assert "Instance Type, Standard to Pro" in answer.text
    assert "memory passes 85 %" in answer.text  # the whole section, its list too
    assert "roll back" not in answer.text


async def test_a_procedure_quoted_from_a_section_whose_heading_is_the_command_names_it() -> None:
    tamper = TextPassage(
        "Database runbook",
        "Database runbook > Tampering: ragops audit-log verify",
        "Checks the audit trail's hash chain and names each changed or deleted row.",
    )
    answer = await ExtractiveAnswerer().answer(
        "How do I check that nobody tampered with the audit trail?", [tamper]
    )
    assert answer.text.startswith("Tampering: ragops audit-log verify: Checks the audit trail")
    plain = TextPassage("Database runbook", "Database runbook > Hash chains", tamper.text)
    answer = await ExtractiveAnswerer().answer(
        "How do I check that nobody tampered with the audit trail?", [plain]
    )
    assert answer.text.startswith("Checks the audit trail")  # no command, no heading


def test_a_definition_question_names_its_term() -> None:
    assert defined_terms("What is the corpus version?") == {"corpus", "version"}
    assert defined_terms("What does drain mean?") == {"drain"}
    assert defined_terms("How do I rotate a key?") == frozenset()


def test_the_sentence_that_defines_the_term_is_recognised() -> None:
    term = defined_terms("What is the corpus version?")
    assert defines("The corpus version is a counter per tenant and collection.", term)
    # the term is named, but the sentence is about something else
    assert not defines("An exact entry is keyed on tenant, collection and corpus version.", term)
    assert not defines("The version of the corpus format is 2.", defined_terms("What is a key?"))


@dataclass(frozen=True)
class ScoredPassage:
    title: str
    section: str
    text: str
    score: float


async def test_a_definition_question_is_answered_by_the_defining_sentence() -> None:
    reads = ScoredPassage(
        "Performance",
        "Performance > Cached answers",
        "Questions asked together share one corpus version read; the corpus version read is a "
        "core select of the corpus version table. A corpus version read that started before a "
        "question is never joined by it, so no answer comes from an older corpus version.",
        0.62,
    )
    keys = ScoredPassage(
        "Answer caching",
        "Answer caching > Keys and invalidation",
        "An exact entry is keyed on tenant, collection, the collection's corpus version and the "
        "normalised question, so a new corpus version retires every older entry of its corpus. "
        "The corpus version is a counter per tenant and collection in the database.",
        0.58,
    )
    answer = await ExtractiveAnswerer().answer("What is the corpus version?", [reads, keys])
    assert answer.kind == "definition"
    assert "counter per tenant and collection" in answer.text
