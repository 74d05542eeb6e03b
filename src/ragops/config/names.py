"""Names users choose (collections): one rule, shared by settings, API and CLI."""

from __future__ import annotations

import re

COLLECTION_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def validate_collection_name(value: str) -> str:
    """Return `value` if it is a valid collection name, else raise ValueError."""
    if not COLLECTION_NAME_RE.fullmatch(value):
        raise ValueError(
            "collection names are 1-63 characters of a-z, 0-9, '-' and '_', "
            "starting with a letter or digit"
        )
    return value
