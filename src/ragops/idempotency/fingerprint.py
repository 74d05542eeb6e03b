"""The fingerprint of a keyed request: SHA-256 of its method, path, query and body.

A multipart body (an upload) is delimited by a boundary the client picks at random each time
it builds the body, so a client that sends the same files again (curl run again, httpx or
requests retrying a `post(files=...)`) sends other bytes. The boundary is therefore hashed as
one fixed token: the same files under the same key are the same request, whatever boundary
each attempt chose. The body is hashed as it is read; a boundary split across two reads is
still found.
"""

from __future__ import annotations

import hashlib

__all__ = ["RequestFingerprint", "multipart_boundary"]

BOUNDARY_TOKEN = b"\x00boundary\x00"


def multipart_boundary(content_type: bytes | None) -> bytes | None:
    """The boundary of a multipart Content-Type header, None for any other body."""
    if content_type is None:
        return None
    media, _, params = content_type.partition(b";")
    if not media.strip().lower().startswith(b"multipart/"):
        return None
    for param in params.split(b";"):
        name, _, value = param.partition(b"=")
        if name.strip().lower() == b"boundary":
            boundary = value.strip().strip(b'"')
            return boundary or None
    return None


class RequestFingerprint:
    """SHA-256 of a request, fed its head then its body in pieces."""

    def __init__(self, method: str, path: str, query: bytes, boundary: bytes | None) -> None:
        self._hash = hashlib.sha256()
        for part in (method.encode(), path.encode(), query):
            self._hash.update(part)
            self._hash.update(b"\n")
        self._boundary = boundary
        self._pending = b""

    def update(self, data: bytes) -> None:
        """Add the next piece of the body."""
        if not self._boundary:
            self._hash.update(data)
            return
        buffer = self._pending + data
        size, position, out = len(self._boundary), 0, bytearray()
        while (found := buffer.find(self._boundary, position)) != -1:
            out += buffer[position:found]
            out += BOUNDARY_TOKEN
            position = found + size
        # Keep a tail that could be the start of a boundary the next piece completes.
        keep_from = max(position, len(buffer) - (size - 1))
        out += buffer[position:keep_from]
        self._pending = buffer[keep_from:]
        self._hash.update(out)

    def hexdigest(self) -> str:
        """The fingerprint of what was added so far."""
        final = self._hash.copy()
        final.update(self._pending)
        return final.hexdigest()
