"""`safe_source_name`: the relative source names uploads may carry (the CLI sends them) are
labels only: no absolute paths, no `..`, no control characters."""

from __future__ import annotations

import pytest

from ragops.documents.extract import safe_source_name


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("guides/rollback.md", "guides/rollback.md"),
        ("../../etc/passwd", "etc/passwd"),
        ("/abs/notes.md", "abs/notes.md"),
        ("a\\b/./c.md", "a/b/c.md"),
        ("C:\\Users\\x\\y.txt", "Users/x/y.txt"),
        ("guides/\x00bad\u202e.md", "guides/bad.md"),
        ("..", "document"),
        ("", "document"),
    ],
)
def test_safe_source_name(raw: str, safe: str) -> None:
    assert safe_source_name(raw) == safe


def test_long_source_names_keep_their_end() -> None:
    name = safe_source_name("a/" * 400 + "end.md")
    assert len(name) <= 512 and name.endswith("/end.md") and not name.startswith("/")
