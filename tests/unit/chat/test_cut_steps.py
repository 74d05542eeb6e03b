"""A numbered list the chunker cut inside a step: the chunk holding the later steps begins
with the end of the step before them, often the command it runs; the answer shows it as that
step ("1. …"), before the steps that follow."""

from __future__ import annotations

from ragops.chat.extractive import ExtractiveAnswerer
from ragops.chat.prompts import TextPassage

CUT = TextPassage(
    "Recovery",
    "Recovery > Option A",
    "into a scratch directory, and compares the counts:\n\n"
    "       tool archive verify FILE\n\n"
    "   A damaged file is refused.\n"
    "2. Restore the archive into a new target: tool archive restore FILE --target DIR.\n"
    "3. Point the service at the restored data and restart it.\n",
)
OTHER = TextPassage("Operations", "Operations > Upgrades", "Upgrades run one instance at a time.")


async def test_the_end_of_the_cut_step_is_shown_as_that_step() -> None:
    answer = await ExtractiveAnswerer().answer(
        "How do I restore the data from an archive?", [CUT, OTHER]
    )
    assert answer.text == (
        "Option A (Recovery) [1]:\n"
        "1. \u2026into a scratch directory, and compares the counts: tool archive verify FILE "
        "A damaged file is refused.\n"
        "2. Restore the archive into a new target: tool archive restore FILE --target DIR.\n"
        "3. Point the service at the restored data and restart it."
    )


async def test_a_whole_list_is_shown_as_it_is() -> None:
    whole = TextPassage(
        "Recovery",
        "Recovery > Option A",
        "Before you start, stop the writers.\n\n"
        "1. Verify the archive: tool archive verify FILE.\n"
        "2. Restore the archive into a new target: tool archive restore FILE --target DIR.\n",
    )
    answer = await ExtractiveAnswerer().answer(
        "How do I restore the data from an archive?", [whole, OTHER]
    )
    assert "\u2026" not in answer.text
    assert "1. Verify the archive" in answer.text
