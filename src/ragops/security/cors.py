"""CORS: an allowlist of exact origins (`RAGOPS_CORS_ORIGINS`), nothing else.

With an empty list there is no CORS at all: browsers keep other sites from reading the API.
An allowed origin gets Starlette's CORS headers; its preflight asking for a method or header
that is not allowed is answered 403 `cors_preflight_refused` naming them. A refused origin
gets none: its preflight is answered 403 with no `Access-Control-*` header, and its simple
requests pass through without any (only `Vary: Origin`, so that caches keep the two answers
apart). The origin `*` is allowed only without credentials; `*` with
`RAGOPS_CORS_ALLOW_CREDENTIALS=true` is refused at start, as is an origin that is not
`scheme://host[:port]`.

A preflight this layer answers (every `OPTIONS` with `Origin` and
`Access-Control-Request-Method`) never reaches the request metrics, which sit inside it: it
is handed with its status and time to `record_preflight` (`install_cors` passes the
observability layer's recorder), which counts it as route `preflight`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragops.errors import send_error

ALLOWED_METHODS = ("GET", "POST", "DELETE", "OPTIONS")
ALLOWED_HEADERS = ("Authorization", "Content-Type", "X-API-Key", "X-Request-ID")
EXPOSED_HEADERS = (
    "X-Request-ID",
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
)
PREFLIGHT_MAX_AGE = 600
_ORIGIN = re.compile(
    r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:\d{1,5})?$"
)


class CorsConfigError(ValueError):
    """The CORS settings are unsafe or malformed; the server refuses to start."""


def validate_origins(origins: Sequence[str], *, allow_credentials: bool) -> list[str]:
    """The configured origins, checked; raises CorsConfigError naming the problem."""
    cleaned = [origin.strip() for origin in origins if origin.strip()]
    if "*" in cleaned and allow_credentials:
        raise CorsConfigError(
            "RAGOPS_CORS_ORIGINS contains '*' while RAGOPS_CORS_ALLOW_CREDENTIALS is true: "
            "any web site could then make credentialed requests as the user. List the exact "
            "origins instead (https://app.example.com), or turn credentials off."
        )
    for origin in cleaned:
        if origin != "*" and not _ORIGIN.match(origin):
            raise CorsConfigError(
                f"RAGOPS_CORS_ORIGINS: {origin!r} is not an origin; write scheme://host[:port] "
                "with no path and no trailing slash"
            )
    return cleaned


class AllowlistCORSMiddleware(CORSMiddleware):
    """Starlette's CORS for allowed origins; refused origins get no CORS header at all."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        origins: Sequence[str],
        allow_credentials: bool,
        record_preflight: Callable[[int, float], None] | None = None,
    ) -> None:
        self.record_preflight = record_preflight
        super().__init__(
            app,
            allow_origins=list(origins),
            allow_methods=ALLOWED_METHODS,
            allow_headers=ALLOWED_HEADERS,
            allow_credentials=allow_credentials,
            expose_headers=EXPOSED_HEADERS,
            max_age=PREFLIGHT_MAX_AGE,
        )

    def refused_by_preflight(self, headers: Headers) -> list[str]:
        """What a preflight of an allowed origin asks for that is not allowed (Starlette would
        answer it with a plain-text 400)."""
        refused: list[str] = []
        method = headers["access-control-request-method"]
        if method not in self.allow_methods:
            refused.append(f"method {method[:40]!r}")
        asked = headers.get("access-control-request-headers") or ""
        extra = [h.strip() for h in asked.lower().split(",") if h.strip()]
        extra = [h for h in extra if h not in self.allow_headers]
        if extra:
            refused.append(f"header {', '.join(repr(h[:40]) for h in extra[:5])}")
        if headers.get("access-control-request-private-network") is not None:
            refused.append("private network access")
        return refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        preflight = scope["method"] == "OPTIONS" and "access-control-request-method" in headers
        if origin is not None and preflight:
            await self._recorded_preflight(scope, receive, send, headers, origin)
            return
        if origin is None or self.is_allowed_origin(origin):
            await super().__call__(scope, receive, send)
            return

        async def vary_on_origin(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, vary_on_origin)

    async def _recorded_preflight(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers, origin: str
    ) -> None:
        """Answer a preflight and hand its status and time to `record_preflight`."""
        if self.record_preflight is None:
            await self._preflight(scope, receive, send, headers, origin)
            return
        status = 500  # unless a response starts
        started = time.perf_counter()

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._preflight(scope, receive, send_recording, headers, origin)
        finally:
            self.record_preflight(status, time.perf_counter() - started)

    async def _preflight(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers, origin: str
    ) -> None:
        """An allowed origin's preflight: 403 naming what it asks for that is not allowed, else
        Starlette's answer; a refused origin's: 403 with no `Access-Control-*` header."""
        if self.is_allowed_origin(origin):
            refused = self.refused_by_preflight(headers)
            if refused:
                await send_error(
                    send,
                    scope,
                    403,
                    "cors_preflight_refused",
                    f"cross-origin requests may not use {'; '.join(refused)}; allowed: "
                    f"methods {', '.join(ALLOWED_METHODS)}, headers {', '.join(ALLOWED_HEADERS)}"
                    " and the CORS-safelisted ones",
                    [(b"vary", b"Origin")],
                )
                return
            await super().__call__(scope, receive, send)
            return
        await send_error(
            send,
            scope,
            403,
            "cors_origin_refused",
            f"cross-origin requests from {origin[:200]} are not allowed",
            [(b"vary", b"Origin")],
        )
