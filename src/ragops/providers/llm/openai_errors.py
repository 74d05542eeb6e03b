"""Failures of an OpenAI-compatible endpoint, told safely: what a call can raise, which of them
deserve one more try, and a log-safe sentence about each (the endpoint's host and the kind of
failure, never the API key nor anything shaped like a credential).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
import openai

DETAIL_CHARS = 200

CALL_ERRORS: tuple[type[BaseException], ...] = (
    openai.OpenAIError,
    httpx.HTTPError,
    TimeoutError,
    ValueError,
)
"""What a call can raise: client and transport errors, deadlines, malformed answers."""

MALFORMED = (AttributeError, TypeError, IndexError, KeyError)
"""What reading an answer that lacks the expected fields raises; turned into ValueError."""

_KEY_LIKE = re.compile(r"(?i)\bbearer\s+\S+|\b(?:sk|pk|rk)-[\w\-*.]{4,}")


def retryable(exc: BaseException) -> bool:
    """Connection refused/reset and 5xx are worth one more try; a timeout is not."""
    if isinstance(exc, openai.APITimeoutError):
        return False
    return isinstance(exc, openai.APIConnectionError | openai.InternalServerError)


def scrub(text: str, secret: str) -> str:
    """Remove the API key and anything shaped like a credential from `text`."""
    if len(secret) >= 4:
        text = text.replace(secret, "[redacted]")
    text = _KEY_LIKE.sub("[redacted]", text)
    text = " ".join(text.split())
    return text[:DETAIL_CHARS]


def error_detail(exc: openai.APIStatusError) -> str:
    """The provider's own error message, if its body carries one."""
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            message = inner.get("message") or inner.get("detail")
            return message if isinstance(message, str) else ""
        if isinstance(inner, str):
            return inner
    return body if isinstance(body, str) else ""


def describe_error(exc: BaseException, *, host: str, secret: str) -> str:
    """A log-safe sentence about a failed call: host, kind, status; never the key."""
    if isinstance(exc, openai.APITimeoutError | TimeoutError | httpx.TimeoutException):
        return f"LLM endpoint {host} timed out"
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError):
        return f"LLM endpoint {host} could not be reached or dropped the connection"
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return f"LLM endpoint {host} refused the API key (HTTP {exc.status_code})"
    if isinstance(exc, openai.APIStatusError):
        detail = scrub(error_detail(exc), secret)
        suffix = f": {detail}" if detail else ""
        return f"LLM endpoint {host} answered HTTP {exc.status_code}{suffix}"
    if isinstance(exc, openai.APIError):
        return f"LLM endpoint {host} reported an error: {scrub(exc.message, secret)}"
    return f"LLM endpoint {host} sent a malformed answer ({type(exc).__name__})"


def endpoint_host(base_url: str) -> str:
    """Host and port of the endpoint, without any credentials in the URL."""
    parts = urlsplit(base_url)
    host = parts.hostname or "unknown-host"
    return f"{host}:{parts.port}" if parts.port else host
