"""Content hashing: the one definition of a document's fingerprint (sha256 of its bytes)."""

from __future__ import annotations

import hashlib


def content_hash(data: bytes) -> str:
    """The lowercase hex sha256 of `data`; equal bytes give equal hashes, whatever the name."""
    return hashlib.sha256(data).hexdigest()
