"""Sentences of a paragraph: the splitter the extractive answerer (`chat.units`) scores
and the retriever's sentence vectors (`retrieval.units`) embed, so both cut text the same
way. Pure functions, no imports from the rest of ragops: chat and retrieval both use it.
"""

from __future__ import annotations

import re

_END = re.compile(
    r"[.!?\u2026]+[\"')\]\u201d\u2019]*(?=\s+[\"'(\[\u201c\u2018]?[A-Z0-9`])"
    r"|(?<![.])\.(?=\s+[a-z])"
)
"""The end of a sentence: final punctuation before a capital, a digit or code; or a lone
period before a lower-case word, since technical prose starts sentences with a command, a
setting or a file name ("... prints the URL. ragops stack status shows ..."). Abbreviations are
told apart by the word before the period (`_ends_abbreviation`), not by the case of the word
after it; a quoted question ('asks "what now?" and gets ...') and an ellipsis still need a
capital after them."""
_ABBREVIATIONS = frozenset(
    "e.g i.e etc vs cf fig figs no nos approx incl esp resp min max mr mrs ms dr st jr sr".split()
)
MAX_SENTENCE_CHARS = 400
"""A sentence is scored on this many characters at most."""
_ITEM = re.compile(r"^\s*(?:(?:[-*+\u2022]|\d{1,3}[.)])\s|\|)")
"""A line that starts a list item or a table row: a block of its own."""


def _ends_abbreviation(text: str, end: int) -> bool:
    word = text[:end].rsplit(None, 1)[-1].rstrip(".").lstrip("(\"'").lower()
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters at a word boundary, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:") + "\u2026"


def sentences_of(block: str, limit: int = MAX_SENTENCE_CHARS) -> list[str]:
    """The sentences of one paragraph, in order ("e.g." and "1.2" do not end one; one may
    start in lower case, as a command does), each cut to `limit` characters."""
    out: list[str] = []
    start = 0
    for match in _END.finditer(block):
        if match.group(0).startswith(".") and _ends_abbreviation(block, match.start() + 1):
            continue
        out.append(block[start : match.end()].strip())
        start = match.end()
    out.append(block[start:].strip())
    return [clip(s, limit) for s in out if s]


def paragraphs_of(text: str) -> list[str]:
    """`text` cut into paragraphs: blank lines end one, a list item or table row is one of
    its own, and the other lines of a paragraph or list item are joined with spaces (wrapped
    prose)."""
    out: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        # A table row is never continued; a list item is, by its wrapped lines.
        if not stripped or _ITEM.match(line) or (current and current[0].startswith("|")):
            if current:
                out.append(" ".join(current))
            current = [stripped] if stripped else []
            continue
        current.append(stripped)
    if current:
        out.append(" ".join(current))
    return out


def text_sentences(text: str, limit: int = MAX_SENTENCE_CHARS) -> list[str]:
    """The sentences of every paragraph of `text` (`paragraphs_of`), in order."""
    return [s for paragraph in paragraphs_of(text) for s in sentences_of(paragraph, limit)]
