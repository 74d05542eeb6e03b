"""Errors of reading and writing files in a user's words, for every command and loader: what
the operating system said ("permission denied", "is a directory") or that a file is not UTF-8
text, never Python's exception class or a traceback."""

from __future__ import annotations

__all__ = ["decode_reason", "os_reason"]


def os_reason(exc: OSError) -> str:
    """What the operating system said, lower case (`strerror`); the message itself when there
    is none."""
    reason = exc.strerror or str(exc) or "an operating system error"
    return reason[:1].lower() + reason[1:]


def decode_reason(exc: UnicodeDecodeError) -> str:
    """Why a file could not be read as text: where its first byte that is not UTF-8 is."""
    return f"not UTF-8 text (byte {exc.start})"
