"""Extraction: an uploaded file's bytes in, validated and normalised text in heading sections out.

Plain text, Markdown, HTML and PDF. The type is decided by the name's extension and the
declared content type together, then checked against the bytes; anything else is refused with
an `IngestError`. The file name is only displayed or read for its extension, never used as a
path. Pure functions: no database, no network, no files written; PDFs are read in a limited
child process (`isolation`). The layout of sections lives in `documents.layout`, the
Markdown, HTML and plain-text parsers in `documents.markup`.
"""

from __future__ import annotations

import io
import re
import threading
import unicodedata
from dataclasses import dataclass

from pypdf import PdfReader

from ragops.documents.errors import IngestError
from ragops.documents.layout import (
    BLANK_LINE,
    MAX_LABEL,
    Section,
    SectionBuilder,
    clean_block,
    normalise,
)
from ragops.documents.markup import Parsed, parse_html, parse_markdown, parse_plain

__all__ = [
    "APPLICATION_PDF",
    "TEXT_HTML",
    "TEXT_MARKDOWN",
    "TEXT_PLAIN",
    "ExtractedDocument",
    "Section",
    "extract",
    "pdf_pages",
    "safe_display_name",
    "safe_source_name",
]

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
    if len(name) > MAX_LABEL:
        stem, dot, ext = name.rpartition(".")
        keep = dot + ext if dot and stem and len(ext) <= 10 else ""
        name = name[: MAX_LABEL - len(keep)].rstrip(" .") + keep
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
        parse = {TEXT_HTML: parse_html, TEXT_MARKDOWN: parse_markdown}.get(media_type)
        title, builder = (parse or parse_plain)(_decode_text(name, data))
    full_text, sections = builder.build()
    if not full_text.strip():
        raise IngestError(name, "no_text", "contains no extractable text")
    title = " ".join(normalise(title).split())[:MAX_LABEL].strip() or _split_name(name)[0]
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
    return normalise(text)


def _read_pdf(name: str, data: bytes, max_pages: int, timeout: float, memory_mb: int) -> Parsed:
    """Parse in a child process with CPU-time and memory limits, killed after `timeout`."""
    from ragops.documents.isolation import parse_pdf_isolated

    parsed: Parsed = parse_pdf_isolated(name, data, max_pages, timeout=timeout, memory_mb=memory_mb)
    return parsed


def pdf_pages(name: str, data: bytes, max_pages: int, cancel: threading.Event) -> Parsed:
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
    builder, first_line = SectionBuilder(), ""
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
        for block in BLANK_LINE.split(normalise(raw)):
            builder.paragraph(clean_block([" ".join(ln.split()) for ln in block.split("\n")]))
    return ("" if title.strip().lower() == "untitled" else title) or first_line, builder
