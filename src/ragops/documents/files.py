"""Find ingestible files under paths given on the command line or as the demo corpus."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

SUPPORTED_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".html", ".htm", ".pdf"})


def collect_files(paths: Iterable[Path]) -> list[Path]:
    """Every file named, plus every supported file below each folder named (sorted, no dups).

    A file named directly is kept whatever its type, so that ingestion can say why it is
    refused; files found inside folders are filtered by suffix, and hidden ones skipped.
    """
    found: dict[Path, None] = {}
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                relative = child.relative_to(path)
                if any(part.startswith(".") for part in relative.parts):
                    continue
                if child.is_file() and child.suffix.lower() in SUPPORTED_SUFFIXES:
                    found[child] = None
        else:
            found[path] = None
    return list(found)


def source_name(path: Path, root: Path | None) -> str:
    """The document's source name: its path relative to `root` (POSIX form) or its name."""
    if root is not None:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return path.name
