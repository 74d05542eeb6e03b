"""Untrusted PDFs are parsed in a child process with memory and CPU-time limits, killed on
timeout: a decompression bomb is refused with a clear error and leaves nothing running."""

from __future__ import annotations

import io
import os
import time
import zlib
from pathlib import Path

import pytest
from pypdf import PdfWriter
from pypdf.generic import DictionaryObject, NameObject, StreamObject

from ragops.documents.errors import IngestError
from ragops.documents.extract import extract


def bomb(spaces: int) -> bytes:
    """A one-page PDF whose 70 KiB content stream inflates to `spaces` bytes."""
    writer = PdfWriter()
    page = writer.add_blank_page(200, 200)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    fonts = DictionaryObject({NameObject("/F1"): writer._add_object(font)})
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): fonts})
    stream = StreamObject()
    content = b"BT /F1 12 Tf 72 100 Td (hello bomb) Tj ET\n" + b" " * spaces
    stream._data = zlib.compress(content, 9)
    stream[NameObject("/Filter")] = NameObject("/FlateDecode")
    page[NameObject("/Contents")] = writer._add_object(stream)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _processes() -> dict[int, tuple[int, str, bytes]]:
    """Every live process: pid -> (parent pid, state, command line)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
                parent = int(status.split("PPid:")[1].split()[0])
                state = status.split("State:")[1].split()[0]
                table[int(entry.name)] = (parent, state, (entry / "cmdline").read_bytes())
            except (OSError, IndexError, ValueError):
                continue
    return table


def _parser_children() -> list[int]:
    """Live (not zombie) children of this test process's multiprocessing forkserver."""
    table = _processes()
    servers = {
        pid
        for pid, (parent, _, cmd) in table.items()
        if parent == os.getpid() and b"forkserver" in cmd
    }
    assert servers, "no forkserver found: the parse did not run in a child process"
    return [pid for pid, (parent, state, _) in table.items() if parent in servers and state != "Z"]


def _extract(data: bytes, *, timeout: float, memory_mb: int) -> IngestError:
    with pytest.raises(IngestError) as refused:
        extract(
            "bomb.pdf",
            data,
            declared_type=None,
            max_bytes=20 * 1024 * 1024,
            max_pdf_pages=10,
            pdf_timeout_seconds=timeout,
            pdf_memory_mb=memory_mb,
        )
    return refused.value


def test_a_decompression_bomb_hits_the_memory_limit() -> None:
    error = _extract(bomb(74_000_000), timeout=20, memory_mb=96)
    assert (error.code, error.status) == ("too_complex", 422)
    assert "96 MiB" in error.message


def test_a_slow_parse_is_killed_at_the_deadline() -> None:
    started = time.monotonic()
    error = _extract(bomb(74_000_000), timeout=2, memory_mb=1024)
    assert error.code == "parse_timeout"
    assert time.monotonic() - started < 8
    assert _parser_children() == []  # the parser process is gone, not left running


def test_an_ordinary_pdf_still_reads() -> None:
    document = extract(
        "small.pdf",
        bomb(10),
        declared_type=None,
        max_bytes=1024 * 1024,
        max_pdf_pages=10,
    )
    assert "hello bomb" in document.text
