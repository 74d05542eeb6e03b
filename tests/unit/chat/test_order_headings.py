"""Sections titled by when they apply ("Before you start", "After the restore"): a question
asking what to do before or after a step is answered from them, although "before" and
"after" are stopwords everywhere else."""

from __future__ import annotations

from dataclasses import dataclass

from ragops.chat.extractive import ExtractiveAnswerer
from ragops.chat.intent import question_kind
from ragops.chat.sections import names_section


@dataclass(frozen=True)
class DocPassage:
    title: str
    section: str
    text: str
    document_id: str = "archive"
    score: float = 0.5


TITLE = "Archive recovery: restore from an archive"
PASSAGES = [
    DocPassage(
        TITLE,
        f"{TITLE} > Restoring the archive",
        "1. Unpack the archive into an empty directory.\n"
        "2. Restore the archive with the restore command and wait for it to finish.\n",
        score=0.55,
    ),
    DocPassage(
        TITLE,
        f"{TITLE} > Before you start",
        "1. Announce the maintenance window to the users.\n"
        "2. Stop the writers so that nothing changes during the restore.\n",
    ),
    DocPassage(
        TITLE,
        f"{TITLE} > After the restore",
        "1. Start the writers again.\n2. Compare the row counts with the archive's manifest.\n",
    ),
]


def test_a_section_titled_before_or_after_is_named_by_the_question() -> None:
    before = "What do I have to do before restoring an archive?"
    assert names_section(before, f"{TITLE} > Before you start")
    assert not names_section(before, f"{TITLE} > After the restore")
    assert names_section("What do I do after the restore?", f"{TITLE} > After the restore")
    assert not names_section("How do I restore an archive?", f"{TITLE} > Before you start")


def test_what_i_have_to_do_asks_for_steps() -> None:
    assert question_kind("What do I have to do before restoring an archive?") == "procedure"
    assert question_kind("what do we need to do after a restore?") == "procedure"


def test_the_steps_before_a_task_come_from_its_before_section() -> None:
    answer = ExtractiveAnswerer().answer_now(
        "What do I have to do before restoring an archive?", PASSAGES
    )
    assert answer.text.startswith(f"Before you start ({TITLE}) [2]:")
    assert "Stop the writers" in answer.text


def test_the_steps_after_a_task_come_from_its_after_section() -> None:
    answer = ExtractiveAnswerer().answer_now(
        "What do I need to do after the restore of an archive?", PASSAGES
    )
    assert answer.text.startswith(f"After the restore ({TITLE}) [3]:")
    assert "row counts" in answer.text
