"""ASGI middleware: request ids, the request body size limit, and no NUL in the URL.

All are pure ASGI (not BaseHTTPMiddleware) so that streaming responses pass through
untouched and the limit applies while the body is read, before a handler sees it.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragops.errors import send_error
from ragops.observability.context import accept_request_id, request_id_var
from ragops.schema import NUL, REPLACEMENT

REQUEST_ID_HEADER = b"x-request-id"


class RequestIdMiddleware:
    """Accept `X-Request-ID` (or make one), expose it to logs, echo it in the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = None
        for name, value in scope.get("headers", []):
            if name == REQUEST_ID_HEADER:
                given = value.decode("latin-1")
                break
        request_id = accept_request_id(given)
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != REQUEST_ID_HEADER]
                headers.append((REQUEST_ID_HEADER, request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


class BodyTooLarge(Exception):
    """Raised inside `receive` when a body passes the limit (answered 413)."""

    status_code = 413


class BodySizeLimitMiddleware:
    """Answer 413 to bodies over `max_bytes`: by Content-Length up front, or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await send_error(
                        send, scope, 400, "bad_request", "invalid Content-Length header"
                    )
                    return
                if declared > self.max_bytes:
                    await send_error(send, scope, 413, "body_too_large", self._message())
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await send_error(send, scope, 413, "body_too_large", self._message())

    def _message(self) -> str:
        return f"the request body is larger than the limit of {self.max_bytes} bytes"


ENCODED_REPLACEMENT = quote(REPLACEMENT).encode()


def without_nul(scope: Scope) -> Scope:
    """`scope` with every NUL character of its path and query (`%00` once percent-decoded)
    replaced by U+FFFD, as `schema.RequestModel` does in bodies; the same scope when there is
    none."""
    path: str = scope.get("path", "")
    query: bytes = scope.get("query_string", b"")
    if NUL not in path and b"%00" not in query:
        return scope
    scope = dict(scope)
    if NUL in path:
        scope["path"] = path.replace(NUL, REPLACEMENT)
        raw: bytes | None = scope.get("raw_path")
        if raw is not None:
            scope["raw_path"] = raw.replace(b"%00", ENCODED_REPLACEMENT)
    scope["query_string"] = query.replace(b"%00", ENCODED_REPLACEMENT)
    return scope


class NulInUrlMiddleware:
    """A NUL character (`%00`) in the path or a query parameter becomes U+FFFD before any
    route sees it: no id or name of ragops holds one, and no PostgreSQL text column can store
    one (a 500 otherwise). Bodies get the same treatment in `schema.RequestModel`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = without_nul(scope)
        await self.app(scope, receive, send)
