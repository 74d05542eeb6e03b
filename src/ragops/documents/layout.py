"""How extracted text is laid out: heading sections over one normalised text, exact offsets.

`SectionBuilder` collects headings and paragraphs (each parser of `documents.markup` and the PDF
reader of `documents.extract` feed one) and lays them out as the document's full text and its
`Section`s, each with the offsets of its quoted examples (code blocks, block quotes) and inline
code spans, which the injection scan and the answerer read. Pure functions, no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_LABEL = 200  # longest file name, title or heading path entry kept
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\u200b\ufeff]")
_NEWLINES = re.compile(r"\r\n?|[\x0c\x85\u2028\u2029]")
BLANK_LINE = re.compile(r"\n[ \t]*\n")
_Spans = tuple[tuple[int, int], ...]
_Paragraph = tuple[str, bool, list[tuple[int, int]]]


@dataclass(frozen=True, slots=True)
class Section:
    """A run of body text under one heading path; `text == document.text[start:end]`."""

    heading_path: list[str]
    text: str
    start: int
    end: int
    quoted: tuple[tuple[int, int], ...] = ()
    """(start, end) offsets into `text` of code blocks and block quotes: quoted examples."""
    inline_code: tuple[tuple[int, int], ...] = ()
    """(start, end) offsets into `text` of inline code spans (Markdown backticks)."""


def normalise(text: str) -> str:
    """NFC, one newline convention, no control characters but tab and newline."""
    return _CONTROL.sub("", _NEWLINES.sub("\n", unicodedata.normalize("NFC", text)))


def clean_line(line: str) -> str:
    """Keep the indentation, collapse other runs of whitespace, drop trailing blanks."""
    rest = " ".join(line.split())
    return line[: len(line) - len(line.lstrip(" \t"))].expandtabs(4) + rest if rest else ""


def clean_block(lines: list[str]) -> str:
    return "\n".join(line.rstrip() for line in lines).strip("\n")


class SectionBuilder:
    """Collects headings and paragraphs, then lays out the text with exact section offsets."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, str]] = []
        # (heading path, heading, [(paragraph, quoted: a code block or block quote, inline
        # code spans as offsets into the paragraph)])
        self._blocks: list[tuple[list[str], str | None, list[_Paragraph]]] = [([], None, [])]

    def heading(self, level: int, text: str) -> None:
        text = " ".join(text.split())
        if text:
            while self._stack and self._stack[-1][0] >= level:
                self._stack.pop()
            self._stack.append((level, text[:MAX_LABEL]))
            self._blocks.append(([t for _, t in self._stack], text, []))

    def section(self, path: list[str]) -> None:
        """Start a section that has a path but no heading line in the text (a PDF page)."""
        self._blocks.append((path, None, []))

    def paragraph(
        self, text: str, *, quoted: bool = False, inline: list[tuple[int, int]] | None = None
    ) -> None:
        """Add a paragraph; `quoted` marks a code block or block quote (an example), `inline`
        the offsets of its inline code spans."""
        if text.strip():
            self._blocks[-1][2].append((text, quoted, inline or []))

    def build(self) -> tuple[str, list[Section]]:
        """The full text (headings and paragraphs split by blank lines) and its sections."""
        parts: list[str] = []
        sections: list[Section] = []
        pos = 0
        for path, heading, paragraphs in self._blocks:
            body = "\n\n".join(paragraph[0] for paragraph in paragraphs)
            for piece, is_body in ((heading, False), (body, True)):
                if piece:
                    pos += 2 if parts else 0
                    parts.extend(("\n\n", piece) if parts else (piece,))
                    if is_body:
                        quoted, inline = _quoted_spans(paragraphs)
                        sections.append(
                            Section(list(path), piece, pos, pos + len(piece), quoted, inline)
                        )
                    pos += len(piece)
        text = "".join(parts)
        if text.strip() and not sections:  # headings only: keep them searchable
            sections = [Section([], text, 0, len(text))]
        return text, sections


def _quoted_spans(paragraphs: list[_Paragraph]) -> tuple[_Spans, _Spans]:
    """Offsets, in the paragraphs joined by blank lines, of the quoted paragraphs and of the
    inline code spans."""
    quoted: list[tuple[int, int]] = []
    inline: list[tuple[int, int]] = []
    pos = 0
    for text, is_quoted, code_spans in paragraphs:
        if is_quoted:
            quoted.append((pos, pos + len(text)))
        inline.extend((pos + a, pos + b) for a, b in code_spans)
        pos += len(text) + 2
    return tuple(quoted), tuple(inline)
