"""A section is read as a whole: its retrieved passages and heading path together hold more of a
question's terms than any one of its units, and that evidence counts for each of its units
(`chat.evidence.section_evidence`)."""

from __future__ import annotations

from ragops.chat import shapes
from ragops.chat.extractive import ExtractiveAnswerer
from ragops.chat.shapes import build_context
from ragops.chat.units import passage_units
from tests.unit.chat.passages import DocPassage

LIMITS = DocPassage(
    "Uploads",
    "Uploads > Limits",
    "An upload larger than the size limit is refused with 413 and nothing of it is stored.",
    document_id="uploads",
    score=0.62,
)
RETRY_START = DocPassage(
    "Uploads",
    "Uploads > Retrying a failed upload",
    "A refused upload leaves no partial document behind.",
    document_id="uploads",
    score=0.5,
)
RETRY_END = DocPassage(
    "Uploads",
    "Uploads > Retrying a failed upload",
    "1. Split the file below the limit.\n2. Send each part again with the same collection.\n",
    document_id="uploads",
    score=0.48,
)
QUESTION = "My upload was refused for its size, how do I retry it with the same collection?"


def test_passages_of_one_section_pool_their_terms() -> None:
    passages = [LIMITS, RETRY_START, RETRY_END]
    units = [u for n, p in enumerate(passages, 1) for u in passage_units(n, p.text, [])]
    context = build_context(QUESTION, passages, units)
    alone = [build_context(QUESTION, [p], passage_units(1, p.text, [])) for p in passages]
    # both chunks of the retry section get the evidence of the section as a whole
    assert context.evidence[1] == context.evidence[2]
    assert context.evidence[1] > max(alone[1].evidence[0], alone[2].evidence[0])
    assert context.evidence[1] > context.evidence[0]


EXPIRY = DocPassage(
    "API keys",
    "API keys > Expiry",
    "An old key stops working once it expires.",
    document_id="keys",
    score=0.57,
)
ROTATE = DocPassage(
    "API keys",
    "API keys > Rotation",
    "Rotate issues a successor with the same scopes and name.",
    document_id="keys",
    score=0.5,
)
OVERLAP = DocPassage(
    "API keys",
    "API keys > Rotation",
    "The old key keeps working for a day of overlap.",
    document_id="keys",
    score=0.48,
)
ROTATION_QUESTION = "Does the old key keep working once its successor is issued?"


def test_a_section_holding_the_question_across_two_passages_answers_first() -> None:
    # no single unit of the rotation section holds both "old key ... working" and
    # "successor", but the section as a whole does: it leads the answer over the expiry
    # sentence, which shares more of the question's words alone
    answer = ExtractiveAnswerer().answer_now(ROTATION_QUESTION, [EXPIRY, ROTATE, OVERLAP])
    assert answer.cited[0] in (2, 3)


def test_without_section_evidence_the_best_single_unit_leads(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(shapes, "SECTION_WEIGHT", 0.0)
    answer = ExtractiveAnswerer().answer_now(ROTATION_QUESTION, [EXPIRY, ROTATE, OVERLAP])
    assert answer.cited[0] == 1
