"""Ingest errors: why an uploaded file was refused, as a machine code, a sentence and a status."""

from __future__ import annotations

from typing import Literal

IngestErrorCode = Literal[
    "unsupported_media_type",
    "empty_document",
    "not_utf8",
    "corrupt_pdf",
    "too_large",
    "too_many_pages",
    "no_text",
    "parse_timeout",
    "too_complex",
    "too_many_tokens",
    "quota_exceeded",
]

_STATUS: dict[str, int] = {
    "unsupported_media_type": 415,
    "too_large": 413,
    "too_many_tokens": 413,
    "quota_exceeded": 429,
    "service_unavailable": 503,  # a dependency (embedder, vector store) is down: retry later
}


class IngestError(Exception):
    """An uploaded file that cannot be ingested.

    `code` is stable for clients, `message` ("<filename>: <reason>") is for people, and
    `status` is the HTTP status the API answers with (415, 413, 429, else 422).
    """

    filename: str
    code: IngestErrorCode
    reason: str
    message: str
    status: int

    def __init__(self, filename: str, code: IngestErrorCode, reason: str) -> None:
        self.filename = filename
        self.code = code
        self.reason = reason
        self.message = f"{filename}: {reason}"
        self.status = self.status_for(code)
        super().__init__(self.message)

    @staticmethod
    def status_for(code: str) -> int:
        """The HTTP status of an ingest error code: 415, 413, 429, 503, else 422."""
        return _STATUS.get(code, 422)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[type[IngestError], tuple[str, IngestErrorCode, str]]:
        return (type(self), (self.filename, self.code, self.reason))
