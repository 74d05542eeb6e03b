"""The per-client-address rate limit of every `/v1` request, as pure ASGI middleware.

It runs before routing, so a flood of requests costs one counter update each and never
reaches authentication, the database or the models. It also writes the `RateLimit-*` headers
of every response from the statuses the limits of this request left in its state (this one
and the per-key limits of `rate_limit.enforce_rate_limit`), and closes the limiter's storage
when the application shuts down.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragops.errors import send_error
from ragops.security.limiter import RateLimiter
from ragops.security.proxies import TrustedProxies, scope_client_address
from ragops.security.rate_limit import (
    limited_message,
    rate_limit_headers,
    remember,
    report_limited,
)

LIMITED_PREFIX = "/v1"
LIMITED_PATHS = frozenset({"/version"})
"""Public routes outside the API limited too (not the probes `/healthz` and `/readyz`)."""


def is_limited_path(path: str) -> bool:
    """Whether the per-address limit applies to `path` (the API and the public `/version`,
    not pages or probes)."""
    return path == LIMITED_PREFIX or path.startswith(LIMITED_PREFIX + "/") or path in LIMITED_PATHS


class ClientRateLimitMiddleware:
    """Answer 429 once a client address has used up `RAGOPS_RATE_LIMIT_PER_IP`."""

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter, proxies: TrustedProxies) -> None:
        self.app = app
        self.limiter = limiter
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._closing(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if is_limited_path(str(scope.get("path", ""))):
            address = scope_client_address(scope, self.proxies)
            status = await self.limiter.hit("per_ip", "ip:" + address)
            if status is not None:
                remember(scope, status)
                if status.exceeded:
                    await report_limited(scope.get("app"), scope, status, "ip:" + address)
                    await send_error(
                        send,
                        scope,
                        429,
                        "rate_limited",
                        limited_message(status),
                        rate_limit_headers(scope),
                    )
                    return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = rate_limit_headers(scope)
                if extra:
                    headers = MutableHeaders(scope=message)
                    for name, value in extra:
                        headers[name.decode()] = value.decode()
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _closing(self, send: Send) -> Send:
        async def send_after_close(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await self.limiter.aclose()
            await send(message)

        return send_after_close
