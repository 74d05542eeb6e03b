"""Chunking: an extracted document cut into retrieval passages that follow its structure.

A chunk never crosses a section. Within a section, consecutive paragraphs are packed up to
`chunk_size` characters. Where a paragraph must be split, the cut falls at a sentence end, else
between words (inside a word only when the word is longer than half a chunk), near an even share
of what remains, so no tail is left tiny. Each cut is one regular expression over one window:
the cost grows with the text, not with its number of lines. Neighbours in one section share
about `chunk_overlap` characters, starting on a sentence or word boundary. Every chunk is an
exact, trimmed, non-blank slice of the document text (`doc.text[start:end] == chunk.text`).

Structure the answerer needs and cannot see in the text travels with each chunk: `quoted`
holds the offsets (into the chunk text) of its code blocks and block quotes, `inline_code`
those of its inline code spans: extraction removed their markers. Lists and tables keep
their markers (`- `, `1. `, `| a | b |`) in the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ragops.documents.extract import ExtractedDocument

SECTION_SEPARATOR = " > "

_CLOSERS = "[\"'’”)\\]]*"
# Greedy `.*` then a lookahead: one match finds the LAST break of a kind in a window.
_LAST_PARAGRAPH = re.compile(r"(?s).*(?=\n[ \t]*\n)")
_LAST_SENTENCE = re.compile(rf"(?s).*(?:[.!?…]{_CLOSERS}(?=\s)|(?=\n))")
_LAST_WORD = re.compile(r"(?s).*(?=\s)")
# Forward: the end of a match is the start of the next sentence or word.
_SENTENCE_GAP = re.compile(rf"[.!?…]{_CLOSERS}\s+|\n\s*")
_WORD_GAP = re.compile(r"\s+")
_VISIBLE = re.compile(r"\S")

Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Chunk:
    """One passage: its text, where it sits in the document, and what to embed for it."""

    ordinal: int
    text: str
    section: str
    heading_path: list[str]
    start: int
    end: int
    content_for_embedding: str
    quoted: tuple[tuple[int, int], ...] = ()
    """(start, end) offsets into `text` of code blocks and block quotes (quoted examples)."""
    inline_code: tuple[tuple[int, int], ...] = ()
    """(start, end) offsets into `text` of inline code spans."""


def chunk_document(doc: ExtractedDocument, *, chunk_size: int, chunk_overlap: int) -> list[Chunk]:
    """Cut `doc` into chunks of at most `chunk_size` characters, in reading order.

    `chunk_overlap` is capped at half of `chunk_size` so that every chunk adds new text.
    """
    if chunk_size < 1 or chunk_overlap < 0:
        raise ValueError("chunk_size must be at least 1 and chunk_overlap at least 0")
    overlap = min(chunk_overlap, chunk_size // 2)
    chunks: list[Chunk] = []
    for section in doc.sections:
        if doc.text[section.start : section.end] != section.text:
            raise ValueError(f"section {section.heading_path} does not match the document text")
        label = SECTION_SEPARATOR.join(section.heading_path)
        header = _header(doc.title, section.heading_path)
        for a, b in _section_spans(section.text, chunk_size, overlap):
            text = section.text[a:b]
            chunks.append(
                Chunk(
                    ordinal=len(chunks),
                    text=text,
                    section=label,
                    heading_path=list(section.heading_path),
                    start=section.start + a,
                    end=section.start + b,
                    content_for_embedding=f"{header}\n\n{text}" if header else text,
                    quoted=_clip_spans(section.quoted, a, b),
                    inline_code=_clip_spans(section.inline_code, a, b),
                )
            )
    return chunks


def _clip_spans(spans: tuple[tuple[int, int], ...], a: int, b: int) -> tuple[tuple[int, int], ...]:
    """The parts of `spans` inside [a, b), shifted to start from `a`."""
    return tuple((max(s, a) - a, min(e, b) - a) for s, e in spans if s < b and e > a)


def embedding_text(title: str, section: str, text: str) -> str:
    """What is embedded for a stored chunk: `content_for_embedding` rebuilt from its row's
    title, section label and text (the store reconcile re-creates missing points with it)."""
    heading_path = section.split(SECTION_SEPARATOR) if section else []
    header = _header(title, heading_path)
    return f"{header}\n\n{text}" if header else text


def _header(title: str, heading_path: list[str]) -> str:
    """Title and heading path as one line, the title left out when the path starts with it."""
    parts = [title] if title and (not heading_path or heading_path[0] != title) else []
    return SECTION_SEPARATOR.join(parts + heading_path)


def _section_spans(text: str, size: int, overlap: int) -> list[Span]:
    """(start, end) offsets into `text` of its chunks; each at most `size` characters."""
    first = _VISIBLE.search(text)
    if first is None:
        return []
    start, stop = first.start(), len(text.rstrip())
    spans: list[Span] = []
    while stop - start > size:
        floor = max(spans[-1][1], start) if spans else start  # end past the previous chunk
        spans.append((start, _cut(text, start, floor, _target(stop - start, size, overlap), size)))
        start = _next_start(text, spans[-1], size, overlap)
    spans.append((start, stop))
    return _merge_tail(spans, size)


def _target(remaining: int, size: int, overlap: int) -> int:
    """A chunk length that splits `remaining` characters evenly, so no tail is left tiny."""
    if remaining <= size:
        return size
    count = _ceil_div(remaining - overlap, size - overlap)
    return min(size, _ceil_div(remaining + (count - 1) * overlap, count))


def _cut(text: str, start: int, floor: int, target: int, size: int) -> int:
    """Where the chunk that begins at `start` ends: the last paragraph break that fits, else the
    last sentence end or word end before `start + target`, all past `least`."""
    soft, hard, least = start + target, start + size, max(start + target // 2, floor + 1)
    for pattern, limit in ((_LAST_PARAGRAPH, hard), (_LAST_SENTENCE, soft), (_LAST_WORD, soft)):
        if (end := _last_break(pattern, text, least - 1, limit)) >= least:
            return end
    latest = _last_break(_LAST_WORD, text, floor, hard)
    return latest if latest > floor else max(soft, floor + 1)  # inside one enormous word


def _last_break(pattern: re.Pattern[str], text: str, lo: int, hi: int) -> int:
    """The end of the last word before a break of `pattern` in text[lo:hi] if beyond `lo`."""
    match = pattern.match(text, lo, min(hi + 1, len(text)))
    end = match.end() if match else lo
    while end > lo and text[end - 1].isspace():
        end -= 1
    return end


def _next_start(text: str, previous: Span, size: int, overlap: int) -> int:
    """Where the next chunk starts: about `overlap` characters back, on a sentence or word."""
    following = _VISIBLE.search(text, previous[1])
    fresh = following.start() if following else previous[1]
    earliest = max(previous[1] - overlap, previous[0] + 1)
    if overlap <= 0 or earliest >= previous[1] or fresh - earliest > size // 2:
        return fresh
    sentence = _first_break(_SENTENCE_GAP, text, earliest, previous[1])
    if sentence is not None and previous[1] - sentence >= overlap * 2 // 5:
        return sentence
    word = _first_break(_WORD_GAP, text, earliest, previous[1])
    return word if word is not None else (sentence if sentence is not None else fresh)


def _first_break(pattern: re.Pattern[str], text: str, lo: int, hi: int) -> int | None:
    """The first position in [lo, hi) that directly follows a match of `pattern`."""
    for match in pattern.finditer(text, max(lo - 8, 0), hi):
        if lo <= match.end() < hi and not text[match.end()].isspace():
            return match.end()
    return None


def _merge_tail(spans: list[Span], size: int) -> list[Span]:
    """Fold a last chunk that adds only a few characters into the one before, if it fits."""
    if len(spans) >= 2:
        (a, b), (c, d) = spans[-2], spans[-1]
        if d - max(b, c) < max(1, size // 8) and d - a <= size:
            return [*spans[:-2], (a, d)]
    return spans


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)
