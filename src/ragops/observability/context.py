"""Per-request context (request id, tenant) carried in context variables, so every log line
and error event of a request can name it without passing it around."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("ragops_request_id", default=None)
tenant_id_var: ContextVar[str | None] = ContextVar("ragops_tenant_id", default=None)

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def new_request_id() -> str:
    """A fresh request id (32 hex characters)."""
    return uuid.uuid4().hex


def accept_request_id(candidate: str | None) -> str:
    """The caller's `X-Request-ID` when it is safe to log and echo, else a new id."""
    if candidate and _VALID_REQUEST_ID.fullmatch(candidate):
        return candidate
    return new_request_id()


def current_request_id() -> str:
    """The id of the request being served (a new one outside a request)."""
    return request_id_var.get() or new_request_id()
