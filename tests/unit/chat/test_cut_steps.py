"""A numbered list the chunker cut inside a step: the chunk holding the later steps begins
with the end of the step before them, often the command it runs; the answer shows it as that
step ("1. …"), before the steps that follow."""

from __future__ import annotations

from dataclasses import dataclass

from ragops.chat.extractive import ExtractiveAnswerer
from ragops.chat.prompts import TextPassage


@dataclass(frozen=True)
class ChunkPassage:
    """A retrieved chunk of a known document, with its place in it."""

    title: str
    section: str
    text: str
    document_id: str
    ordinal: int
    score: float = 0.5


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


def _remedy(name: str) -> str:
    return (
        f"- {name} \u2192 follow the matching runbook for this cause, wait for the provider's "
        "status page to clear, then restart the instances one by one and watch the error "
        "rate on the dashboard until it settles back under the alert's threshold.\n"
    )


async def test_a_long_section_keeps_the_remedy_that_matches_past_its_length_cut() -> None:
    """An action section too long to show whole is cut after 1200 characters, but not before
    the remedy the question asks about: that item follows an ellipsis."""
    first = ChunkPassage(
        "StoreDown",
        "StoreDown > Mitigation",
        "".join(_remedy(f"Cause {n}") for n in range(1, 6)),
        document_id="store",
        ordinal=1,
    )
    second = ChunkPassage(
        "StoreDown",
        "StoreDown > Mitigation",
        "".join(_remedy(f"Cause {n}") for n in range(6, 9))
        + "- After recovery \u2192 documents deleted during the outage left orphan points: "
        "tool store reconcile removes them.\n",
        document_id="store",
        ordinal=2,
    )
    answer = await ExtractiveAnswerer().answer(
        "How do I clean up orphan points left by documents deleted during the outage?",
        [second, first],
    )
    assert answer.text.startswith("Mitigation (StoreDown) [")
    assert "- Cause 1 \u2192" in answer.text
    assert "tool store reconcile removes them" in answer.text
