"""Retrieval candidates that repeat a better one (a template section every page carries) are
set behind the others, so the places they took go to other pages."""

from __future__ import annotations

import random
import re

from ragops.chat.sections import set_repeats_aside
from ragops.retrieval.service import Passage

TEMPLATE = (
    "Respond within 30 minutes; escalate to the engineering lead after 1 hour without "
    "progress. Escalation path: on-call engineer, then engineering lead, then the VP."
)


def _passage(number: int, section: str, text: str) -> Passage:
    return Passage(
        chunk_id=f"c{number}",
        document_id=f"d{number}",
        version=1,
        title=section.split(" > ")[0],
        section=section,
        text=text,
        start=0,
        end=len(text),
        ordinal=1,
        score=0.5,
        fused_score=1.0 / number,
        payload={},
    )


def test_copies_of_a_template_section_go_behind_the_other_pages() -> None:
    first = _passage(1, "DiskFull > Escalation", TEMPLATE + " Disk pages go to storage.")
    copy = _passage(2, "QueueHigh > Escalation", TEMPLATE + " Queue pages go to the team.")
    engine = _passage(
        3, "Incidents > Paging", "The escalation engine runs every 30 s inside the service."
    )
    ranked = set_repeats_aside([first, copy, engine])
    assert [p.chunk_id for p in ranked] == ["c1", "c3", "c2"]


def test_sections_of_the_same_heading_with_their_own_text_keep_their_places() -> None:
    disk = _passage(1, "DiskFull > Mitigation", "- Delete old snapshots.\n- Grow the volume.")
    queue = _passage(2, "QueueHigh > Mitigation", "- Scale the workers.\n- Pause the re-index.")
    other = _passage(3, "Incidents > Paging", "Pages go to the primary first.")
    assert set_repeats_aside([disk, queue, other]) == [disk, queue, other]


def test_the_same_text_under_another_heading_is_no_repeat() -> None:
    a = _passage(1, "DiskFull > Escalation", TEMPLATE)
    b = _passage(2, "Runbooks > Severity levels", TEMPLATE)
    assert set_repeats_aside([a, b]) == [a, b]


def _reference(passages: list[Passage]) -> list[Passage]:
    """The rule as first written: every candidate's trigrams compared with every better one."""
    kept: list[Passage] = []
    repeats: list[Passage] = []
    seen: list[tuple[str, set[tuple[str, ...]]]] = []
    for passage in passages:
        heading = passage.section.rsplit(">", 1)[-1].strip().lower()
        words = re.findall(r"\w+", passage.text.lower())
        grams = set(zip(words, words[1:], words[2:], strict=False))
        if grams and any(
            heading == other and len(grams & theirs) >= 0.3 * len(grams) for other, theirs in seen
        ):
            repeats.append(passage)
            continue
        seen.append((heading, grams))
        kept.append(passage)
    return kept + repeats


def test_the_order_is_the_rule_s_whichever_trigrams_are_read() -> None:
    # trigrams are read only for candidates sharing a heading, and remembered across calls:
    # the order is the one the rule gives when every candidate is compared with every other
    rng = random.Random(7)
    words = "pool page disk queue escalate lead hour engineer the on call".split()
    headings = ["A > Escalation", "B > Escalation", "C > Impact", "D > impact", "E"]
    for _ in range(200):
        passages = [
            _passage(
                n,
                rng.choice(headings),
                " ".join(rng.choice(words) for _ in range(rng.randint(0, 12))),
            )
            for n in range(1, rng.randint(1, 12))
        ]
        assert set_repeats_aside(passages) == _reference(passages)
        assert set_repeats_aside(passages) == _reference(passages)  # from the memo
