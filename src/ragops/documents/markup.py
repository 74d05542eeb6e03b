"""Markup parsers: plain text, Markdown and HTML into a `SectionBuilder` of headings and
paragraphs (`documents.layout`), with the document's title when the markup names one.

Markdown: ATX and setext headings, fenced code kept verbatim, block quotes and code marked as
quoted examples, inline markup dropped (code spans kept as offsets). HTML: h1-h6 headings, block
elements as paragraphs, scripts, styles and navigation dropped, walked without recursion so
hostile nesting cannot exhaust the stack. Pure functions, no I/O.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup
from bs4.element import NavigableString, PreformattedString, Tag

from ragops.documents.layout import BLANK_LINE, SectionBuilder, clean_block, clean_line

_FENCE_OPEN = re.compile(r" {0,3}(`{3,}(?=[^`]*$)|~{3,})")
_FENCE_CLOSE = re.compile(r" {0,3}(`{3,}|~{3,})[ \t]*")
_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*))?")
_SETEXT = re.compile(r" {0,3}(=+|-+)[ \t]*")
_NOT_SETEXT_TEXT = re.compile(r"\s*(?:[-*+]\s|\d+[.)]\s|>|\|)")
_SKIP_LINE = re.compile(r" {0,3}(?:([-*_])(?:[ \t]*\1){2,}[ \t]*|\[[^\]\n]+\]:\s*\S+.*)")
_QUOTE = re.compile(r"^(?: {0,3}>[ ]?)+")
_OPEN_CODE, _CLOSE_CODE = "\ue000", "\ue001"  # around inline code while a paragraph is built
_SENTINELS = re.compile("([\ue000\ue001])")
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)([^`\n]+?)\1(?!`)")
# (trigger, pattern, replacement): a pattern runs only on text holding its trigger literal.
_INLINE = [
    (trigger, re.compile(pattern), repl)
    for trigger, pattern, repl in (
        ("<!--", r"<!--(?:(?!<!--)[^\n])*?-->", ""),
        ("<", r"<((?:https?|mailto):[^<>\s]+)>", r"\1"),
        ("![", r"!\[([^\[\]\n]*)\]\([^()\[\n]*\)", r"\1"),
        ("](", r"\[([^\[\]\n]+)\]\([^()\[\n]*\)", r"\1"),
        ("][", r"\[([^\[\]\n]+)\]\[[^\[\]\n]*\]", r"\1"),
        ("**", r"\*\*(?=\S)([^*\n]+?)(?<=\S)\*\*", r"\1"),
        ("__", r"(?<!\w)__(?=\S)([^_\n]+?)(?<=\S)__(?!\w)", r"\1"),
        ("*", r"(?<![*\w])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![*\w])", r"\1"),
        ("_", r"(?<!\w)_(?=\S)([^_\n]+?)(?<=\S)_(?!\w)", r"\1"),
        ("~~", r"~~(?=\S)([^~\n]+?)(?<=\S)~~", r"\1"),
    )
]
_DROP_TAGS = ["script", "style", "nav", "noscript", "template", "svg", "iframe", "object",
              "embed", "canvas", "head", "title", "meta", "link", "button", "select"]  # fmt: skip
# Keep tags (1), drop comments/declarations (2), escape other "<" (html.parser: quadratic).
_HTML_TOKEN = re.compile(r"""(</?[A-Za-z][^<>"']*(?:(?:"[^"<>]*"|'[^'<>]*')[^<>"']*)*>)|"""
    r"""(<!--(?:(?!<!--).)*?-->|<[!?][^<>\[]*(?:\[[^\[\]]*\])?[^<>]*>)|<""", re.S)  # fmt: skip
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BREAKS = dict.fromkeys("br li tr dt dd caption summary figcaption".split(), "line")
_BREAKS.update(dict.fromkeys("address article aside blockquote body center details dialog div dl "
    "fieldset figure footer form h1 h2 h3 h4 h5 h6 header hr html legend main ol p pre section "
    "table tbody tfoot thead ul".split(), "paragraph"))  # fmt: skip
Parsed = tuple[str, SectionBuilder]
"""(title or "", the document laid out)"""


def parse_plain(text: str) -> Parsed:
    """Paragraphs split at blank lines; a short line underlined with === or --- is a heading."""
    builder = SectionBuilder()
    for block in BLANK_LINE.split(text):
        lines = [clean_line(line) for line in block.strip().split("\n")]
        if len(lines) >= 2 and re.fullmatch(r"={3,}|-{3,}", lines[1]) and len(lines[0]) <= 100:
            builder.heading(1 if lines[1][0] == "=" else 2, lines[0])
            lines = lines[2:]
        builder.paragraph(clean_block(lines))
    return "", builder


def _md_inline(line: str, *, mark: bool = False) -> str:
    """Light inline rendering: drop emphasis markers, link targets and code-span backticks.

    With `mark`, each code span is wrapped in private-use sentinels (see `_unmark`)."""
    pieces = _CODE_SPAN.split(line)  # prose, ticks, code, prose, ticks, code, ..., prose
    for i in range(0, len(pieces), 3):
        for trigger, pattern, replacement in _INLINE:
            if trigger in pieces[i]:
                pieces[i] = pattern.sub(replacement, pieces[i])
        if mark and i + 2 < len(pieces):
            pieces[i + 2] = _OPEN_CODE + pieces[i + 2] + _CLOSE_CODE
    return "".join(piece for i, piece in enumerate(pieces) if i % 3 != 1)


def _unmark(text: str) -> tuple[str, list[tuple[int, int]]]:
    """`text` without the code-span sentinels, and the (start, end) of each code span."""
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    pos, start = 0, -1
    for piece in _SENTINELS.split(text):
        if piece == _OPEN_CODE:
            start = pos
        elif piece == _CLOSE_CODE:
            if start >= 0 and pos > start:
                spans.append((start, pos))
            start = -1
        else:
            out.append(piece)
            pos += len(piece)
    return "".join(out), spans


def parse_markdown(text: str) -> Parsed:
    """ATX and setext headings; fenced code kept verbatim (a '#' inside it is not a heading)."""
    builder, title = SectionBuilder(), ""
    lines = text.split("\n")
    if lines[0].strip() == "---":  # YAML front matter
        end = next((i for i, ln in enumerate(lines[1:99], 1) if ln.strip() in {"---", "..."}), -1)
        lines = lines[end + 1 :]
    para: list[str] = []
    in_quote: list[bool] = []  # per line of `para`: did it come from a block quote?
    code: list[str] = []
    fence: str | None = None

    def flush() -> None:
        block, code_spans = _unmark(clean_block(para))
        builder.paragraph(block, quoted=bool(in_quote) and all(in_quote), inline=code_spans)
        para.clear()
        in_quote.clear()

    def heading(level: int, raw: str) -> None:
        nonlocal title
        flush()
        clean = " ".join(_md_inline(raw).split())
        title = title or (clean if level == 1 else "")
        builder.heading(level, clean)

    for line in lines:
        if fence is not None:
            close = _FENCE_CLOSE.fullmatch(line)
            if close and close.group(1)[0] == fence[0] and len(close.group(1)) >= len(fence):
                builder.paragraph(clean_block(code), quoted=True)
                fence, code = None, []
            else:
                code.append(line.expandtabs(4))
            continue
        quote = _QUOTE.match(line) is not None
        line = _QUOTE.sub("", line)
        setext = _SETEXT.fullmatch(line)
        if setext and len(para) == 1 and not _NOT_SETEXT_TEXT.match(para[0]):
            in_quote.pop()
            heading(1 if setext.group(1)[0] == "=" else 2, _unmark(para.pop())[0])
        elif (opening := _FENCE_OPEN.match(line)) or not line.strip() or _SKIP_LINE.fullmatch(line):
            flush()
            fence = opening.group(1) if opening else None
        elif atx := _ATX.fullmatch(line):
            heading(len(atx.group(1)), re.sub(r"(?:^|[ \t]+)#+[ \t]*$", "", atx.group(2) or ""))
        else:
            para.append(clean_line(_md_inline(_SENTINELS.sub("", line), mark=True)))
            in_quote.append(quote)
    flush()
    builder.paragraph(clean_block(code), quoted=True)  # an unclosed fence runs to the end
    return title, builder


def parse_html(text: str) -> Parsed:
    """h1-h6 headings, block elements as paragraphs; script, style and nav are dropped."""
    safe = _HTML_TOKEN.sub(lambda m: m[1] or ("" if m[2] else "&lt;"), text)
    soup = BeautifulSoup(safe, "html.parser")
    # <title> comes first in a well-formed page; the first <h1> stands in when it is absent.
    title = next((t.get_text() for t in soup.find_all(["title", "h1"]) if t.get_text().strip()), "")
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    builder = SectionBuilder()
    lines: list[str] = []
    inline: list[str] = []

    def end(kind: str | None) -> None:
        line = " ".join("".join(inline).split())
        inline.clear()
        lines.extend([line] if line else [])
        if kind == "paragraph":
            builder.paragraph("\n".join(lines))
            lines.clear()

    # An explicit stack instead of recursion: hostile nesting cannot exhaust the call stack.
    stack: list[tuple[bool, object]] = [(False, soup)]
    while stack:
        closing, node = stack.pop()
        if isinstance(node, NavigableString):
            if not isinstance(node, PreformattedString):  # comments, doctypes, CDATA
                inline.append(str(node))
        elif isinstance(node, Tag):
            name = node.name.lower()
            if kind := _BREAKS.get(name):
                end(kind)
            if closing:
                continue
            if name == "pre":
                code = node.get_text().expandtabs(4).split("\n")
                builder.paragraph(clean_block(code), quoted=True)
            elif name in _HEADINGS:
                builder.heading(_HEADINGS[name], node.get_text())
            else:
                inline.append(" " if name in {"td", "th"} else "")
                stack.append((True, node))
                stack.extend((False, child) for child in reversed(node.contents))
    end("paragraph")
    return title, builder
