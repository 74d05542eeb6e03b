"""Untrusted PDFs are parsed in a child process of their own, under operating-system limits.

A crafted PDF can make a parser loop or allocate without end. A thread cannot be stopped, so
each PDF is read by a short-lived process forked from a clean `forkserver` (never from the
multi-threaded server itself) with `resource.setrlimit` limits: CPU time (the kernel stops it
with SIGXCPU) and address space (allocations beyond it raise `MemoryError`). The parent waits
at most `timeout` seconds of wall time for the answer, then kills the child. Every way of
failing becomes an `IngestError`: `parse_timeout` (time or CPU used up) or `too_complex`
(memory used up), never a hung worker or a server out of memory.
"""

from __future__ import annotations

import math
import multiprocessing
import resource
import threading
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from typing import Any

from ragops.documents.errors import IngestError

_MIB = 1024 * 1024
_context: BaseContext | None = None
_context_lock = threading.Lock()


def _isolation_context() -> BaseContext:
    """The forkserver context, preloading the parser so each child starts at once."""
    global _context
    with _context_lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["ragops.documents.extract"])
            _context = context
        return _context


def _child(
    connection: Connection, name: str, data: bytes, max_pages: int, cpu: int, memory: int
) -> None:
    """In the child: apply the limits, parse, send back the result or the error."""
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    from ragops.documents.extract import pdf_pages

    result: Any
    try:
        result = ("ok", pdf_pages(name, data, max_pages, threading.Event()))
    except IngestError as exc:
        result = ("error", exc)
    except MemoryError:
        result = ("memory", None)
    except Exception as exc:  # the parser's own bugs: a broken file as far as users go
        result = (
            "error",
            IngestError(name, "corrupt_pdf", f"cannot be read ({type(exc).__name__})"),
        )
    try:
        connection.send(result)
    except MemoryError:
        connection.send(("memory", None))
    finally:
        connection.close()


def parse_pdf_isolated(
    name: str, data: bytes, max_pages: int, *, timeout: float, memory_mb: int
) -> Any:
    """`extract.pdf_pages` run in a limited child process; raises `IngestError`."""
    context = _isolation_context()
    receiver, sender = context.Pipe(duplex=False)
    cpu = max(1, math.ceil(timeout))
    child = context.Process(  # type: ignore[attr-defined]
        target=_child,
        args=(sender, name, data, max_pages, cpu, memory_mb * _MIB),
        name="ragops-pdf-parse",
        daemon=True,
    )
    child.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            raise IngestError(name, "parse_timeout", f"took longer than {timeout:g} s to read")
        try:
            kind, payload = receiver.recv()
        except EOFError:  # the child died: the CPU limit (SIGXCPU) or a crash
            raise IngestError(
                name, "parse_timeout", f"used more than {cpu} s of CPU time to read"
            ) from None
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join(5)
    if kind == "ok":
        return payload
    if kind == "memory":
        raise IngestError(name, "too_complex", f"needs more than {memory_mb} MiB to read")
    raise payload
