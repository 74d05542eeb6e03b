"""What a question asks of an on-call page: how to check is answered by the page's
*Diagnosis*, what to do by its *Mitigation*; the kinds are read from the question's wording
and from the headings' words, not from file names."""

from __future__ import annotations

from dataclasses import dataclass

from ragops.chat.extractive import ExtractiveAnswerer
from ragops.chat.intent import asked_section, section_kind


@dataclass(frozen=True)
class DocPassage:
    title: str
    section: str
    text: str
    document_id: str = "queue"
    score: float = 0.5


TITLE = "QueueBacklogHigh"
MEANING = DocPassage(
    TITLE,
    f"{TITLE} > Meaning",
    "More than 500 export jobs have waited in the queue for ten minutes: the export workers "
    "cannot keep up and customers are affected.",
    score=0.6,
)
TRIAGE = DocPassage(
    TITLE,
    f"{TITLE} > Triage",
    "1. Look at the queue depth on the exports dashboard.\n"
    "2. If the depth is flat, the workers are stuck: read their logs.\n",
)
REMEDY = DocPassage(
    TITLE,
    f"{TITLE} > Mitigation",
    "1. Scale the export workers to twice their count.\n"
    "2. Pause the nightly re-index until the backlog drains.\n",
)
PASSAGES = [MEANING, REMEDY, TRIAGE]


def test_the_wording_of_a_question_says_which_section_it_asks_for() -> None:
    assert asked_section("How do I check whether customers are really affected?") == "diagnosis"
    assert asked_section("How can I tell if the workers are stuck?") == "diagnosis"
    assert asked_section("The queue is backed up, what do I do?") == "mitigation"
    assert asked_section("Who do I call when it is not resolved in an hour?") == "escalation"
    assert asked_section("Who should I escalate to?") == "escalation"
    assert asked_section("Which customers are affected by a backlog?") == "impact"
    assert asked_section("What does this alert mean?") == "meaning"
    assert asked_section("How many workers are there?") is None


def test_headings_say_their_kind_by_their_words() -> None:
    assert section_kind("QueueBacklogHigh > Triage") == "diagnosis"
    assert section_kind("Disk > Verification steps") == "diagnosis"
    assert section_kind("QueueBacklogHigh > Mitigation") == "mitigation"
    assert section_kind("Incidents > Paging and escalation") == "escalation"
    assert section_kind("QueueBacklogHigh > Impact") == "impact"
    assert section_kind("QueueBacklogHigh") is None  # a page's title is no section


def test_a_question_asking_how_to_check_gets_the_diagnosis_steps() -> None:
    answer = ExtractiveAnswerer().answer_now(
        "The export queue has a backlog. How do I check whether the workers are stuck?",
        PASSAGES,
    )
    assert answer.text.startswith("Triage (QueueBacklogHigh) [3]:")
    assert "Look at the queue depth" in answer.text
    assert "Scale the export workers" not in answer.text


def test_a_question_asking_what_to_do_still_gets_the_mitigation() -> None:
    answer = ExtractiveAnswerer().answer_now(
        "The export queue has a backlog and the workers are stuck, what do I do?", PASSAGES
    )
    assert answer.text.startswith("Mitigation (QueueBacklogHigh) [2]:")


def test_a_page_without_a_diagnosis_section_answers_a_check_with_its_remedy() -> None:
    answer = ExtractiveAnswerer().answer_now(
        "The export queue has a backlog. How do I check the workers?", [MEANING, REMEDY]
    )
    assert answer.text.startswith("Mitigation (QueueBacklogHigh) [2]:")
