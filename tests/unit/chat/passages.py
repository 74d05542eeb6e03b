"""Retrieved passages of known documents, as the answerer's unit tests build them, and the
answer text the extractive answerer gives over them."""

from __future__ import annotations

from dataclasses import dataclass

from ragops.chat.extractive import ExtractiveAnswerer


@dataclass(frozen=True)
class DocPassage:
    """A retrieved passage of a known document."""

    title: str
    section: str
    text: str
    document_id: str = "doc"
    score: float = 0.5


def answer_text(question: str, *passages: DocPassage) -> str:
    """The extractive answer's text for `question` over `passages`."""
    return ExtractiveAnswerer().answer_now(question, list(passages)).text
