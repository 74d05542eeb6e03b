"""Extraction: an uploaded file's bytes in, validated and normalised text in heading sections out.

Plain text, Markdown, HTML and PDF. The type is decided by the name's extension and the
declared content type together, then checked against the bytes; anything else is refused with
an `IngestError`. The file name is only displayed or read for its extension, never used as a
path. Pure functions: no database, no network, no files written; PDFs are read in a limited
child process (`isolation`).
"""

from __future__ import annotations

import io
import re
import threading
import unicodedata
from dataclasses import dataclass

from bs4 import BeautifulSoup
from bs4.element import NavigableString, PreformattedString, Tag
from pypdf import PdfReader

from ragops.documents.errors import IngestError

TEXT_PLAIN = "text/plain"
TEXT_MARKDOWN = "text/markdown"
TEXT_HTML = "text/html"
APPLICATION_PDF = "application/pdf"

_BY_EXTENSION = {"txt": TEXT_PLAIN, "text": TEXT_PLAIN, "md": TEXT_MARKDOWN,
                 "markdown": TEXT_MARKDOWN, "html": TEXT_HTML, "htm": TEXT_HTML,
                 "pdf": APPLICATION_PDF}  # fmt: skip
_BY_DECLARED = {"text/plain": TEXT_PLAIN, "text/markdown": TEXT_MARKDOWN,
                "text/x-markdown": TEXT_MARKDOWN, "text/html": TEXT_HTML,
                "application/xhtml+xml": TEXT_HTML, "application/pdf": APPLICATION_PDF,
                "application/x-pdf": APPLICATION_PDF}  # fmt: skip
_GENERIC_DECLARED = {"", "application/octet-stream", "binary/octet-stream", "application/unknown"}
_BINARY_MAGIC = {b"%PDF-": "a PDF", b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image",
                 b"GIF8": "a GIF image", b"PK\x03\x04": "a ZIP archive (such as .docx)",
                 b"\xd0\xcf\x11\xe0": "an Office document", b"\x7fELF": "an executable",
                 b"\x1f\x8b": "a gzip archive"}  # fmt: skip
_MAX_LABEL = 200  # longest file name, title or heading path entry kept
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\u200b\ufeff]")
_NEWLINES = re.compile(r"\r\n?|[\x0c\x85\u2028\u2029]")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
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
_Parsed = tuple[str, "_Builder"]
_Spans = tuple[tuple[int, int], ...]
_Paragraph = tuple[str, bool, list[tuple[int, int]]]  # (title or "", the document's layout)


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


@dataclass(frozen=True, slots=True)
class ExtractedDocument:
    """The normalised text of one file and its sections, in reading order."""

    title: str
    media_type: str
    text: str
    sections: list[Section]


def safe_display_name(filename: str) -> str:
    """The last component of `filename` without control characters, safe to show and log."""
    name = "".join(c for c in filename if unicodedata.category(c)[0] != "C")  # controls, format
    name = re.sub(r"^[A-Za-z]:", "", name.replace("\\", "/").rsplit("/", 1)[-1])
    name = " ".join(unicodedata.normalize("NFC", name).split()).strip(" .")
    if len(name) > _MAX_LABEL:
        stem, dot, ext = name.rpartition(".")
        keep = dot + ext if dot and stem and len(ext) <= 10 else ""
        name = name[: _MAX_LABEL - len(keep)].rstrip(" .") + keep
    return name or "document"


def safe_source_name(name: str, max_chars: int = 512) -> str:
    """A relative source path (`guides/setup.md`) safe to show and log: each segment as
    `safe_display_name` makes it, empty, `.` and `..` segments dropped (it is only a label)."""
    name = re.sub(r"^[A-Za-z]:", "", name)
    segments = [part for part in re.split(r"[\\/]", name) if part.strip(" .")]
    joined = "/".join(safe_display_name(part) for part in segments)[-max_chars:].lstrip("/")
    return joined or "document"


def _split_name(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    return (stem, ext.lower()) if dot and stem else (name, "")


def extract(
    filename: str,
    data: bytes,
    *,
    declared_type: str | None,
    max_bytes: int,
    max_pdf_pages: int,
    pdf_timeout_seconds: float = 30.0,
    pdf_memory_mb: int = 1024,
) -> ExtractedDocument:
    """Validate `data` as a supported document; `IngestError` (see its codes) if refused."""
    name = safe_display_name(filename)
    if len(data) > max_bytes:
        raise IngestError(name, "too_large", f"is {len(data)} bytes, over the {max_bytes} limit")
    media_type = _claimed_type(name, declared_type, data)
    if not data.strip():
        raise IngestError(name, "empty_document", "is empty")
    if media_type == APPLICATION_PDF:
        if not data.startswith(b"%PDF-"):
            raise IngestError(name, "unsupported_media_type", "is named a PDF but is not one")
        title, builder = _read_pdf(name, data, max_pdf_pages, pdf_timeout_seconds, pdf_memory_mb)
    else:
        parse = {TEXT_HTML: _parse_html, TEXT_MARKDOWN: _parse_markdown}.get(media_type)
        title, builder = (parse or _parse_plain)(_decode_text(name, data))
    full_text, sections = builder.build()
    if not full_text.strip():
        raise IngestError(name, "no_text", "contains no extractable text")
    title = " ".join(_normalise(title).split())[:_MAX_LABEL].strip() or _split_name(name)[0]
    return ExtractedDocument(title, media_type, full_text, sections)


def _claimed_type(name: str, declared_type: str | None, data: bytes) -> str:
    """The type the name and the declared type agree on; unknown or conflicting ones fail."""
    ext = _split_name(name)[1]
    declared = (declared_type or "").split(";", 1)[0].strip().lower()
    by_ext, by_declared = _BY_EXTENSION.get(ext), _BY_DECLARED.get(declared)
    if ext and by_ext is None:
        raise IngestError(name, "unsupported_media_type", f".{ext} files are not supported")
    if by_ext is None and by_declared is None and declared not in _GENERIC_DECLARED:
        raise IngestError(name, "unsupported_media_type", f"type {declared} is not supported")
    if by_ext and by_declared and (by_ext == APPLICATION_PDF) != (by_declared == APPLICATION_PDF):
        raise IngestError(name, "unsupported_media_type", f"is .{ext} but declared {declared}")
    sniffed = APPLICATION_PDF if data.startswith(b"%PDF-") else TEXT_PLAIN  # no name, no type
    return by_ext or by_declared or sniffed


def _decode_text(name: str, data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise IngestError(name, "not_utf8", "is UTF-16 encoded; save it as UTF-8")
    for magic, kind in _BINARY_MAGIC.items():
        if data.startswith(magic):
            raise IngestError(name, "unsupported_media_type", f"is {kind}, not text")
    if b"\x00" in data:
        raise IngestError(name, "unsupported_media_type", "contains NUL bytes: binary, not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(name, "not_utf8", f"is not UTF-8 (bad byte at {exc.start})") from None
    if not text.strip():
        raise IngestError(name, "empty_document", "contains only whitespace")
    return _normalise(text)


def _normalise(text: str) -> str:
    """NFC, one newline convention, no control characters but tab and newline."""
    return _CONTROL.sub("", _NEWLINES.sub("\n", unicodedata.normalize("NFC", text)))


def _clean_line(line: str) -> str:
    """Keep the indentation, collapse other runs of whitespace, drop trailing blanks."""
    rest = " ".join(line.split())
    return line[: len(line) - len(line.lstrip(" \t"))].expandtabs(4) + rest if rest else ""


def _clean_block(lines: list[str]) -> str:
    return "\n".join(line.rstrip() for line in lines).strip("\n")


class _Builder:
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
            self._stack.append((level, text[:_MAX_LABEL]))
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


def _parse_plain(text: str) -> _Parsed:
    """Paragraphs split at blank lines; a short line underlined with === or --- is a heading."""
    builder = _Builder()
    for block in _BLANK_LINE.split(text):
        lines = [_clean_line(line) for line in block.strip().split("\n")]
        if len(lines) >= 2 and re.fullmatch(r"={3,}|-{3,}", lines[1]) and len(lines[0]) <= 100:
            builder.heading(1 if lines[1][0] == "=" else 2, lines[0])
            lines = lines[2:]
        builder.paragraph(_clean_block(lines))
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


def _parse_markdown(text: str) -> _Parsed:
    """ATX and setext headings; fenced code kept verbatim (a '#' inside it is not a heading)."""
    builder, title = _Builder(), ""
    lines = text.split("\n")
    if lines[0].strip() == "---":  # YAML front matter
        end = next((i for i, ln in enumerate(lines[1:99], 1) if ln.strip() in {"---", "..."}), -1)
        lines = lines[end + 1 :]
    para: list[str] = []
    in_quote: list[bool] = []  # per line of `para`: did it come from a block quote?
    code: list[str] = []
    fence: str | None = None

    def flush() -> None:
        block, code_spans = _unmark(_clean_block(para))
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
                builder.paragraph(_clean_block(code), quoted=True)
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
            para.append(_clean_line(_md_inline(_SENTINELS.sub("", line), mark=True)))
            in_quote.append(quote)
    flush()
    builder.paragraph(_clean_block(code), quoted=True)  # an unclosed fence runs to the end
    return title, builder


def _parse_html(text: str) -> _Parsed:
    """h1-h6 headings, block elements as paragraphs; script, style and nav are dropped."""
    safe = _HTML_TOKEN.sub(lambda m: m[1] or ("" if m[2] else "&lt;"), text)
    soup = BeautifulSoup(safe, "html.parser")
    # <title> comes first in a well-formed page; the first <h1> stands in when it is absent.
    title = next((t.get_text() for t in soup.find_all(["title", "h1"]) if t.get_text().strip()), "")
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    builder = _Builder()
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
                builder.paragraph(_clean_block(code), quoted=True)
            elif name in _HEADINGS:
                builder.heading(_HEADINGS[name], node.get_text())
            else:
                inline.append(" " if name in {"td", "th"} else "")
                stack.append((True, node))
                stack.extend((False, child) for child in reversed(node.contents))
    end("paragraph")
    return title, builder


def _read_pdf(name: str, data: bytes, max_pages: int, timeout: float, memory_mb: int) -> _Parsed:
    """Parse in a child process with CPU-time and memory limits, killed after `timeout`."""
    from ragops.documents.isolation import parse_pdf_isolated

    parsed: _Parsed = parse_pdf_isolated(
        name, data, max_pages, timeout=timeout, memory_mb=memory_mb
    )
    return parsed


def _pdf_pages(name: str, data: bytes, max_pages: int, cancel: threading.Event) -> _Parsed:
    """Title from the metadata and one section per page ("page 3"), the text of each."""
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        locked = reader.is_encrypted and not reader.decrypt("")  # an empty password is no lock
        page_count = 0 if locked else len(reader.pages)
    except MemoryError:
        raise
    except Exception as exc:
        raise IngestError(name, "corrupt_pdf", f"is a broken PDF ({type(exc).__name__})") from None
    if locked:
        raise IngestError(name, "corrupt_pdf", "is encrypted (password protected)")
    if page_count > max_pages:
        raise IngestError(name, "too_many_pages", f"has {page_count} pages, over {max_pages}")
    try:  # a broken info dictionary only costs the title
        title = str(getattr(reader.metadata, "title", None) or "")
    except Exception:
        title = ""
    builder, first_line = _Builder(), ""
    for number in range(1, page_count + 1):
        if cancel.is_set():
            raise IngestError(name, "parse_timeout", "reading was cancelled")
        try:
            raw = reader.pages[number - 1].extract_text() or ""
        except MemoryError:
            raise
        except Exception:
            raise IngestError(name, "corrupt_pdf", f"page {number} cannot be read") from None
        builder.section([f"page {number}"])
        first_line = first_line or next((ln for ln in raw.splitlines() if ln.strip()), "")
        for block in _BLANK_LINE.split(_normalise(raw)):
            builder.paragraph(_clean_block([" ".join(ln.split()) for ln in block.split("\n")]))
    return ("" if title.strip().lower() == "untitled" else title) or first_line, builder
