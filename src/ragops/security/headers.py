"""Security headers on every response, and a strict Content-Security-Policy for HTML pages.

Every response gets `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`,
`X-Frame-Options: DENY` and a CSP that at least forbids framing. What the CSP allows depends
on the response:

- HTML pages served by ragops (`/`, `/ops`, any other `text/html` answer): only their own
  origin and, for inline `<script>` and `<style>` blocks, exactly those blocks, by SHA-256
  hash computed from the page as it is sent. A script injected into the page by any other
  means does not run.
- The interactive API documentation (`/docs`, `/redoc`) is such a page too: its scripts and
  styles are served by ragops itself (`api.docs`), none from a CDN. ReDoc alone also needs
  `style-src 'unsafe-inline'` (it writes its styles at run time) and `worker-src blob:` (its
  search index); its scripts stay hash-only. The documentation is off in production unless
  `RAGOPS_DOCS_ENABLED=true`.
- Everything else (JSON, event streams): `default-src 'none'`, nothing may run from it.

`Strict-Transport-Security` is sent when the request arrived over TLS (directly, or per
`X-Forwarded-Proto` from a trusted proxy), or always when `RAGOPS_HSTS_ENABLED=true`; never
when it is false. Unset means TLS requests and, in production, every request.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragops.security.proxies import TrustedProxies

HSTS_VALUE = "max-age=31536000; includeSubDomains"
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
INLINE_STYLE_PATHS = frozenset({"/redoc"})  # pages whose script writes <style> elements
BASE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
MAX_PAGE_BYTES = 2 * 1024 * 1024  # pages larger than this get the policy without inline hashes

_INLINE_SCRIPT = re.compile(
    r"<script\b(?P<attrs>[^>]*)>(?P<body>.*?)</script\s*>", re.DOTALL | re.IGNORECASE
)
_INLINE_STYLE = re.compile(r"<style\b[^>]*>(?P<body>.*?)</style\s*>", re.DOTALL | re.IGNORECASE)
_SRC_ATTR = re.compile(r"\bsrc\s*=", re.IGNORECASE)


def _hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _sources(hashes: Iterable[str]) -> str:
    return " ".join(["'self'", *sorted(set(hashes))])


def page_policy(html: str, *, inline_styles: bool = False) -> str:
    """The CSP of one HTML page: same origin, plus the hashes of its own inline blocks (with
    `inline_styles`, any inline style: a hash would make browsers ignore 'unsafe-inline')."""
    scripts = [
        _hash(m.group("body"))
        for m in _INLINE_SCRIPT.finditer(html)
        if not _SRC_ATTR.search(m.group("attrs")) and m.group("body").strip()
    ]
    styles = [_hash(m.group("body")) for m in _INLINE_STYLE.finditer(html)]
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src {_sources(scripts)}",
            "style-src 'self' 'unsafe-inline'"
            if inline_styles
            else f"style-src {_sources(styles)}",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            *(["worker-src blob:"] if inline_styles else []),
            "manifest-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "object-src 'none'",
            "frame-ancestors 'none'",
        ]
    )


def hsts_wanted(setting: bool | None, *, environment: str, tls: bool) -> bool:
    """Whether to send Strict-Transport-Security (see the module docstring)."""
    if setting is not None:
        return setting
    return tls or environment == "production"


def _is_html(headers: MutableHeaders) -> bool:
    return headers.get("content-type", "").lower().startswith("text/html")


class SecurityHeadersMiddleware:
    """Pure ASGI: add the headers at `http.response.start` (HTML pages are buffered once to
    hash their inline blocks; nothing else is buffered, so streams stay streams)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        proxies: TrustedProxies,
        hsts: bool | None,
        environment: str,
    ) -> None:
        self.app = app
        self.proxies = proxies
        self.hsts = hsts
        self.environment = environment

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send_hsts = hsts_wanted(
            self.hsts, environment=self.environment, tls=self.proxies.is_tls(scope)
        )
        inline_styles = str(scope.get("path", "")) in INLINE_STYLE_PATHS
        held: Message | None = None
        chunks: list[bytes] = []
        size = 0

        def decorate(message: Message, policy: str) -> Message:
            headers = MutableHeaders(scope=message)
            for name, value in BASE_HEADERS.items():
                headers[name] = value
            headers["Content-Security-Policy"] = policy
            if send_hsts:
                headers["Strict-Transport-Security"] = HSTS_VALUE
            return message

        async def release(policy: str, *, more_body: bool = False) -> None:
            nonlocal held
            assert held is not None
            await send(decorate(held, policy))
            held = None
            body = b"".join(chunks)
            chunks.clear()
            await send({"type": "http.response.body", "body": body, "more_body": more_body})

        async def send_with_headers(message: Message) -> None:
            nonlocal held, size
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if _is_html(headers):
                    held = message  # wait for the page to hash its inline blocks
                else:
                    await send(decorate(message, API_CSP))
                return
            if held is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = bool(message.get("more_body", False))
            if size > MAX_PAGE_BYTES:
                await release(page_policy("", inline_styles=inline_styles), more_body=more)
                return
            if not more:
                html = b"".join(chunks).decode("utf-8", errors="replace")
                await release(page_policy(html, inline_styles=inline_styles))

        await self.app(scope, receive, send_with_headers)
        if held is not None:  # the app ended without finishing the body
            html = b"".join(chunks).decode("utf-8", errors="replace")
            await release(page_policy(html, inline_styles=inline_styles))
