"""A passage's text cut into answer units that keep its structure: sentences, lists, tables.

Ingestion keeps list markers (`- `, `1. `) and table rows (`| a | b |`) in the chunk text and
stores the offsets of code blocks and block quotes in the chunk payload (`quoted`). From that,
`passage_units` yields:

- `sentence`: one sentence of a paragraph or of a list item; the sentences of an item that
  opens with a label ("Dependencies.", a bold lead-in in the Markdown) carry it as their `lead`,
  so its words count as theirs, as a heading's count for a section;
- `list`: a whole list (ordered or not), with the sentence that introduces it when that ends
  with a colon, rendered one item a line;
- `table`: a whole table, one line per row (`first cell: header: cell; ...`);
- `row`: one table row, rendered the same way, for questions one row answers;
- `code`: a code block (fenced, at most `MAX_CODE_LINES` lines) with the sentence before it,
  for questions that ask how to do something. Of a code block inside a list item, only the
  first command line is kept, at the end of the item's text (a step's command is its point).
"""

from __future__ import annotations

import dataclasses
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ragops.text.sentences import MAX_SENTENCE_CHARS, clip, sentences_of

__all__ = [
    "MAX_SENTENCE_CHARS",
    "Unit",
    "clip",
    "is_command_row",
    "passage_units",
    "render_row",
    "sentences_of",
]

UnitKind = Literal["sentence", "list", "table", "row", "code"]

MAX_ITEM_CHARS = 320
MAX_CODE_LINES = 10
MAX_COMMAND_CHARS = 120
"""Longest command kept in a list item (its first line)."""
MAX_ROW_CHARS = 140
"""Longest row of a table shown whole (a row answering alone may be MAX_ITEM_CHARS)."""
MAX_BLOCK_CHARS = 2400
"""Longest list or table rendered whole; longer ones are cut after a whole item."""

_BULLET = re.compile(r"^(\s*)(?:([-*+\u2022])|(\d{1,3})[.)])\s+")
_TABLE = re.compile(r"^\s*\|")
_COMMENT = re.compile(r"\s+#\s.*$")
_DANGLING_NUMBER = re.compile(r"(?<=[.!?)])\s+\d{1,3}[.)]$")
_HEADING = re.compile(r"^\s{0,3}#{1,6}(?:\s|$)")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")
MAX_SHOWN_CHARS = 600
"""An answer quotes a long sentence up to this many characters (an enumeration cut at 400
lost its end: "sections to fill (root…")."""


@dataclass(frozen=True, slots=True)
class Unit:
    """One answer unit of one passage."""

    kind: UnitKind
    text: str
    """How the unit reads in an answer (lists and tables on several lines)."""
    passage: int
    """1-based number of its passage."""
    position: int
    """Order of the unit within its passage."""
    ordered: bool = False
    """A numbered list."""
    items: int = 0
    """Items of a list or rows of a table."""
    lead: str = ""
    """The sentence that introduces a list, if any (a table: its header)."""
    in_block: bool = False
    """A sentence or row that is also part of a list or table unit."""
    keys: str = ""
    """A table's first-column cells: what the table lists (its topic with the header)."""
    shown: str = ""
    """A long sentence as an answer quotes it (up to MAX_SHOWN_CHARS), when that is more than
    `text` (cut to MAX_SENTENCE_CHARS for scoring)."""
    command: str = ""
    """Of a row of a command table (`is_command_row`): its command (the first cell); the rest
    of the row says what it does."""
    block: int = -1
    """Of a sentence: the paragraph or list item it belongs to (numbered within its passage),
    so a sentence can be read with its neighbours; -1 for other units."""


@dataclass(slots=True)
class _Block:
    kind: Literal["paragraph", "list", "table", "code"]
    lines: list[str]


def _blocks(text: str, quoted: Sequence[tuple[int, int]]) -> list[_Block]:
    """Paragraphs, lists and tables of `text`, with its quoted spans (code) left out."""
    blocks: list[_Block] = []
    position = 0
    command_kept = False
    for raw in text.split("\n"):
        start, position = position, position + len(raw) + 1
        if any(a <= start < b for a, b in quoted):
            if blocks and blocks[-1].kind == "list" and raw.strip():
                command = _COMMENT.sub("", raw.strip().rstrip("\\")).strip()
                if not command_kept and blocks[-1].lines and not command.startswith("#"):
                    blocks[-1].lines[-1] += f" `{clip(command, MAX_COMMAND_CHARS)}`"
                    command_kept = True  # the step's first command; the rest is left out
                continue
            if not blocks or blocks[-1].kind != "code":
                blocks.append(_Block("code", []))
            blocks[-1].lines.append(raw.rstrip())
            continue
        command_kept = False
        line = raw.rstrip()
        if not line.strip():
            if not blocks or blocks[-1].kind != "list":  # a list goes on past a blank line
                blocks.append(_Block("paragraph", []))
            continue
        if blocks and blocks[-1].kind == "list" and not raw.startswith((" ", "\t")):
            if not _BULLET.match(line) and text[start - 2 : start] == "\n\n":
                blocks.append(_Block("paragraph", []))  # unindented text after a blank line
        if _HEADING.match(line):  # a heading line (text that did not come from ingestion)
            blocks.append(_Block("paragraph", []))
            continue
        if _TABLE.match(line):
            if not blocks or blocks[-1].kind != "table":
                blocks.append(_Block("table", []))
            blocks[-1].lines.append(line)
        elif _BULLET.match(line):
            if not blocks or blocks[-1].kind != "list":
                blocks.append(_Block("list", []))
            blocks[-1].lines.append(line)
        elif blocks and blocks[-1].kind == "list" and blocks[-1].lines:
            blocks[-1].lines[-1] += " " + line.strip()  # continuation of the item
        else:
            if not blocks or blocks[-1].kind != "paragraph":
                blocks.append(_Block("paragraph", []))
            blocks[-1].lines.append(line.strip())
    return [b for b in blocks if b.lines]


def _cells(line: str) -> list[str]:
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    return [" ".join(c.replace("\\|", "|").split()) for c in re.split(r"(?<!\\)\|", body)]


def render_row(header: Sequence[str], cells: Sequence[str], limit: int = MAX_ITEM_CHARS) -> str:
    """A table row as one line: `first cell: header: cell; header: cell` (cut at `limit`)."""
    if not cells:
        return ""
    rest = [
        f"{name}: {value}" if name else value
        for name, value in zip(list(header[1:]) + [""] * len(cells), cells[1:], strict=False)
        if value
    ]
    head = cells[0] or (header[0] if header else "")
    return clip(f"{head}: {'; '.join(rest)}" if rest else head, limit)


def _bounded(lines: list[str], limit: int = MAX_BLOCK_CHARS) -> list[str]:
    """As many whole lines as fit in `limit` characters (at least one)."""
    kept: list[str] = []
    total = 0
    for line in lines:
        if kept and total + len(line) > limit:
            kept.append("\u2026")
            break
        kept.append(line)
        total += len(line) + 1
    return kept


def _sentence(
    sentence: str, number: int, position: int, *, in_block: bool = False, block: int = -1
) -> Unit:
    """A sentence unit: scored on its first MAX_SENTENCE_CHARS, shown up to MAX_SHOWN_CHARS."""
    text = clip(sentence, MAX_SENTENCE_CHARS)
    shown = sentence if text != sentence else ""
    return Unit("sentence", text, number, position, in_block=in_block, shown=shown, block=block)


def passage_units(number: int, text: str, quoted: Sequence[tuple[int, int]] = ()) -> list[Unit]:
    """The answer units of passage `number` (see the module docstring), in reading order."""
    units: list[Unit] = []
    previous = ""
    for index, block in enumerate(_blocks(text, quoted)):
        if block.kind == "paragraph":
            paragraph = " ".join(block.lines)
            for sentence in sentences_of(paragraph, MAX_SHOWN_CHARS):
                units.append(_sentence(sentence, number, len(units), block=index * 1000))
            previous = paragraph
        elif block.kind == "list":
            units.extend(_list_units(number, block.lines, previous, len(units), index * 1000))
            previous = ""
        elif block.kind == "code":
            lines = block.lines[:MAX_CODE_LINES] + (
                ["..."] if len(block.lines) > MAX_CODE_LINES else []
            )
            body = textwrap.dedent("\n".join(lines)).strip("\n")
            lead = sentences_of(previous)[-1] if previous else ""
            if body.strip():
                units.append(Unit("code", f"```\n{body}\n```", number, len(units), lead=lead))
        else:
            units.extend(_table_units(number, block.lines, len(units)))
            previous = ""
    return units


def _list_units(
    number: int, lines: list[str], previous: str, position: int, block: int = 0
) -> list[Unit]:
    lead = sentences_of(previous)[-1] if previous.rstrip().endswith(":") else ""
    items: list[tuple[bool, str]] = []
    depth = min(len(_BULLET.match(line).group(1)) for line in lines)  # type: ignore[union-attr]
    numbers: list[int] = []
    for line in lines:
        match = _BULLET.match(line)
        assert match is not None
        body = " ".join(line[match.end() :].split())
        if len(match.group(1)) > depth and items:  # a nested item joins its parent
            ordered, text = items[-1]
            items[-1] = (ordered, f"{text}; {body}")
        else:
            items.append((match.group(3) is not None, body))
            numbers.append(int(match.group(3)) if match.group(3) else 0)
    if items:  # a chunk cut just after the next item's number ends in "... plan). 3."
        ordered, last = items[-1]
        items[-1] = (ordered, _DANGLING_NUMBER.sub("", last))
    ordered = bool(items) and all(o for o, _ in items)
    if ordered and numbers != list(range(numbers[0], numbers[0] + len(numbers))):
        numbers = list(range(1, len(items) + 1))  # "1." on every item: counted
    rendered = [  # a list the chunker cut keeps its own numbers ("3." onwards)
        f"{n}. {clip(body, MAX_ITEM_CHARS)}" if ordered else f"- {clip(body, MAX_ITEM_CHARS)}"
        for n, (_, body) in zip(numbers, items, strict=True)
    ]
    units = [
        Unit(
            "list",
            "\n".join(_bounded(rendered)),
            number,
            position,
            ordered=ordered,
            items=len(items),
            lead=lead,
        )
    ]
    for item, (_, body) in enumerate(items, start=1):
        sentences = sentences_of(body, MAX_SHOWN_CHARS)
        label = item_label(sentences)
        for sentence in sentences:
            unit = _sentence(
                sentence, number, position + len(units), in_block=True, block=block + item
            )
            if label and sentence is not sentences[0]:
                unit = dataclasses.replace(unit, lead=label)
            units.append(unit)
    return units


MAX_LABEL_WORDS = 4
_LABEL_END = re.compile(r"[.:]$")


def item_label(sentences: Sequence[str]) -> str:
    """The label a list item opens with ("Dependencies." before what it says of them: a
    heading of the item's own), or "" when its first sentence is one of its statements."""
    if len(sentences) < 2:
        return ""
    first = sentences[0].strip()
    if len(first.split()) > MAX_LABEL_WORDS or not _LABEL_END.search(first):
        return ""
    return first.rstrip(".:")


_COMMAND_HEADER = re.compile(r"^(?:commands?|cmd|cli|invocation|usage)\b", re.IGNORECASE)
_FLAG = re.compile(r"(?:^|\s)\[?--?[A-Za-z]")
_INVOCATION = re.compile(r"^[a-z][\w.-]*(?:\s+\S+)+$")


def is_command_row(header: Sequence[str], cells: Sequence[str]) -> bool:
    """Whether a table row is a command and what it does: its first cell is a command line
    (a lower-case program name and its arguments) under a header naming commands ("command",
    "usage"), or one holding a flag ("--weeks 8"), and another cell describes it."""
    if len(cells) < 2 or not cells[0] or not any(cells[1:]):
        return False
    named = bool(header) and _COMMAND_HEADER.match(header[0].strip()) is not None
    return _INVOCATION.match(cells[0]) is not None and (named or _FLAG.search(cells[0]) is not None)


def _table_units(number: int, lines: list[str], position: int) -> list[Unit]:
    rows = [_cells(line) for line in lines if not _TABLE_RULE.match(line)]
    has_header = len(lines) > 1 and bool(_TABLE_RULE.match(lines[1]))
    header = rows[0] if has_header else []
    body = rows[1:] if has_header else rows
    kept = [(line, cells) for line, cells in ((render_row(header, c), c) for c in body) if line]
    rendered = [line for line, _ in kept]
    short = [clip(line, MAX_ROW_CHARS) for line in rendered]  # rows of a whole table
    if not rendered:
        return []
    units = [
        Unit(
            "table",
            "\n".join(f"- {line}" for line in _bounded(short)),
            number,
            position,
            items=len(rendered),
            lead=" | ".join(header),
            keys=" ".join(cells[0] for cells in body if cells),
        )
    ]
    commands = [cells[0] if is_command_row(header, cells) else "" for _, cells in kept]
    # a row quoted alone shows as much as a long sentence (its last clause too)
    whole = [render_row(header, cells, MAX_SHOWN_CHARS) for _, cells in kept]
    units.extend(
        Unit(
            "row",
            line,
            number,
            position + 1 + i,
            lead=" | ".join(header),
            in_block=True,
            command=command,
            shown=full if full != line else "",
        )
        for i, (line, full, command) in enumerate(zip(rendered, whole, commands, strict=True))
    )
    return units
