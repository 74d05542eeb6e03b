"""A yes/no question is settled by what a sentence adds to its section's heading: the
question's terms that the passage's title and headings already hold weigh half in a
sentence's own share (`shapes.GIVEN_SHARE`)."""

from __future__ import annotations

import pytest

from ragops.chat import shapes
from ragops.chat.extractive import ExtractiveAnswerer
from ragops.chat.prompts import TextPassage

LIVENESS = TextPassage(
    "Probes",
    "Probes > GET /healthz: liveness",
    '200 {"status": "ok"} while the process runs. It touches no dependency, so a database '
    "outage never makes an orchestrator restart healthy processes. Point the liveness probe "
    "here.",
)
READINESS = TextPassage(
    "Probes",
    "Probes > GET /readyz: readiness",
    "Point the readiness probe here. It answers 503 when this instance may not take traffic.",
)
QUESTION = "Does the liveness probe fail when the database is down?"


async def test_a_yes_no_question_is_settled_by_the_sentence_about_its_predicate() -> None:
    answer = await ExtractiveAnswerer().answer(QUESTION, [LIVENESS, READINESS], max_sentences=1)
    # the sentence it leans on ("It ...") is quoted before it
    assert answer.text == (
        '200 {"status": "ok"} while the process runs [1]. '
        "It touches no dependency, so a database outage never makes an orchestrator restart "
        "healthy processes [1]."
    )


async def test_without_the_rule_the_sentence_repeating_the_heading_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shapes, "GIVEN_SHARE", 1.0)
    answer = await ExtractiveAnswerer().answer(QUESTION, [LIVENESS, READINESS], max_sentences=1)
    assert answer.text == "GET /healthz: liveness: Point the liveness probe here [1]."


async def test_other_questions_keep_the_heading_words_whole() -> None:
    # "what ..." is not a yes/no question: the sentence naming the probe answers it
    answer = await ExtractiveAnswerer().answer(
        "Where should the liveness probe point?", [LIVENESS, READINESS], max_sentences=1
    )
    assert answer.text == "GET /healthz: liveness: Point the liveness probe here [1]."
