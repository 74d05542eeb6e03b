"""Errors every layer may raise and the API turns into precise 4xx answers.

They carry an HTTP status and a machine-readable code; they never carry secrets.
Infrastructure and domains raise them; `api.errors` renders them as
`{"error": {"code", "message", "request_id"}}`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from starlette.types import Scope, Send

from ragops.observability.context import current_request_id


class RagopsError(Exception):
    """Base of the errors a client can act on."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class NotFoundError(RagopsError):
    """The thing named does not exist (or is not the caller's to see)."""

    status = 404
    code = "not_found"


class GoneError(RagopsError):
    """The thing named existed but is no longer served (e.g. an archived chat session)."""

    status = 410
    code = "gone"


class ConflictError(RagopsError):
    """The request clashes with the current state (e.g. a concurrent write)."""

    status = 409
    code = "conflict"


class ValidationFailed(RagopsError):
    """The input is well-formed but not acceptable."""

    status = 422
    code = "validation_error"


class ServiceUnavailable(RagopsError):
    """A dependency needed for this request is down."""

    status = 503
    code = "service_unavailable"


async def send_error(
    send: Send,
    scope: Scope,
    status: int,
    code: str,
    message: str,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """Answer from pure ASGI middleware with the same JSON error body the API's handlers use,
    naming the request id (from the request's state, else the current context)."""
    state: dict[str, Any] = scope.get("state", {})
    request_id = state.get("request_id") or current_request_id()
    body = json.dumps(
        {"error": {"code": code, "message": message, "request_id": request_id}}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
