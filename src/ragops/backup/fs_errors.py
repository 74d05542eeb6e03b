"""File-system errors of backups in a user's words: the path and what the operating system
said ("permission denied", "no space left on device"), never Python's exception class."""

from __future__ import annotations

from pathlib import Path

from ragops.os_errors import os_reason

__all__ = ["describe", "ensure_backup_dir", "os_reason", "within"]


def describe(exc: OSError) -> str:
    """`<path>: <reason>` (both paths of a rename or copy), or the reason alone."""
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    reason = os_reason(exc)
    return f"{' -> '.join(paths)}: {reason}" if paths else reason


def within(exc: OSError, directory: Path) -> bool:
    """Whether the error is about `directory` or a path inside it."""
    if exc.filename is None:
        return False
    path = Path(str(exc.filename))
    return path == directory or directory in path.parents


def ensure_backup_dir(directory: Path) -> str | None:
    """Make `directory` (and its parents) for backups; None, or why it cannot be."""
    if directory.exists() and not directory.is_dir():
        return f"cannot write backups to {directory}: not a directory; nothing written"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot write backups to {directory}: {os_reason(exc)}; nothing written"
    return None
