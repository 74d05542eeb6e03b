"""Rate limits per API key on the routes that cost most, and what a refused request answers.

Three limits, each a `limits` string such as `60/minute` (several: `5/second;60/minute`),
counted by `limiter.RateLimiter` (shared through Redis, or per instance):

- `per_ip` (`RAGOPS_RATE_LIMIT_PER_IP`): every `/v1` request, by client address (see
  `proxies.client_address`); enforced by `ClientRateLimitMiddleware` (`ip_limit`) before
  routing.
- `chat` (`RAGOPS_RATE_LIMIT_CHAT`) and `ingest` (`RAGOPS_RATE_LIMIT_INGEST`): per caller on
  the routes of `ROUTE_KINDS`, enforced by the dependency `enforce_rate_limit(kind)`. The
  caller is the key id the auth layer left in `request.state` (`key_id`, or
  `principal.key_id`), else the SHA-256 of the API key presented (`Authorization: Bearer` or
  `X-API-Key`), else the client address. A key may carry its own limit string in
  `request.state.rate_limit_override` (one string for both kinds, or a mapping by kind).
  `apply_rate_limits` appends the dependency to the routes of `ROUTE_KINDS`, after their own
  (authentication) dependencies, so the routers need no change.

A refused request is answered 429 `rate_limited` with `Retry-After`; responses of limited
routes carry `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds) of the
limit closest to exhaustion. A refusal is counted in `ragops_rate_limited_total{limit}`,
logged as the event `rate_limited`, and passed to `app.state.security_event_hook(event,
details)` when the application set one.
"""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any, Literal

import structlog
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute
from starlette.types import Scope

from ragops.observability.metrics import record_rate_limited
from ragops.security.limiter import LimitStatus, RateLimiter, most_pressing
from ragops.security.proxies import client_address

Kind = Literal["chat", "ingest"]
SecurityEventHook = Callable[[str, dict[str, Any]], Awaitable[None] | None]

EVENT_HOOK_ATTR = "security_event_hook"
STATE_STATUSES = "rate_limit_statuses"
STATE_APPLIED = "rate_limit_kinds"
ROUTE_KINDS: dict[tuple[str, str], Kind] = {
    ("POST", "/v1/chat"): "chat",
    ("POST", "/v1/chat/completions"): "chat",
    ("POST", "/v1/documents"): "ingest",
    ("DELETE", "/v1/documents/{document_id}"): "ingest",
}
"""Which routes (method, path template) count against which per-key limit."""

log = structlog.get_logger(__name__)


def rate_limit_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """`RateLimit-*` (and, when refused, `Retry-After`) for the statuses of this request."""
    statuses: list[LimitStatus] = scope.get("state", {}).get(STATE_STATUSES, [])
    status = most_pressing(statuses)
    if status is None:
        return []
    headers = [
        (b"ratelimit-limit", str(status.limit).encode()),
        (b"ratelimit-remaining", str(status.remaining).encode()),
        (b"ratelimit-reset", str(status.reset_seconds).encode()),
    ]
    if status.exceeded:
        headers.append((b"retry-after", str(status.reset_seconds).encode()))
    return headers


def remember(scope: Scope, status: LimitStatus) -> None:
    """Keep `status` in the request state for the response headers."""
    scope.setdefault("state", {}).setdefault(STATE_STATUSES, []).append(status)


def limited_message(status: LimitStatus) -> str:
    return (
        f"too many requests: the {status.name} limit is {status.description}; "
        f"retry in {status.reset_seconds} s"
    )


async def report_limited(app: Any, scope: Scope, status: LimitStatus, identity: str) -> None:
    """Count, log and hand over one refusal (to `app.state.security_event_hook`, if set)."""
    record_rate_limited(status.name)
    details = {
        "limit": status.name,
        "rule": status.description,
        "identity": identity[:40],
        "method": scope.get("method"),
        "path": scope.get("path"),
        "retry_after": status.reset_seconds,
    }
    log.warning("rate_limited", **details)
    principal = scope.get("state", {}).get("principal")
    tenant_id = getattr(principal, "tenant_id", None)
    if tenant_id:  # a per-key limit: the key's tenant (its admin reads the event)
        details["tenant_id"] = tenant_id
    hook = getattr(getattr(app, "state", None), EVENT_HOOK_ATTR, None)
    if not callable(hook):
        return
    try:
        result = hook("rate_limited", details)
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.warning("security_event_hook_failed", event="rate_limited")


_BEARER = re.compile(r"^\s*bearer\s+(\S+)\s*$", re.IGNORECASE)


def presented_api_key(request: Request) -> str | None:
    """The API key the caller sent (`Authorization: Bearer ...` or `X-API-Key`), if any."""
    match = _BEARER.match(request.headers.get("authorization", ""))
    if match:
        return match.group(1)
    value = request.headers.get("x-api-key", "").strip()
    return value or None


def _key_id(request: Request) -> str | None:
    key_id = getattr(request.state, "key_id", None)
    if not key_id:
        key_id = getattr(getattr(request.state, "principal", None), "key_id", None)
    return str(key_id) if key_id else None


def caller_identity(request: Request) -> str:
    """Whom a per-key limit counts: the key id, the presented key's hash, or the address."""
    key_id = _key_id(request)
    if key_id:
        return f"key:{key_id}"
    presented = presented_api_key(request)
    if presented:
        return "keyhash:" + hashlib.sha256(presented.encode("utf-8")).hexdigest()
    return "ip:" + client_address(request)


def _override(request: Request, kind: Kind) -> str | None:
    value = getattr(request.state, "rate_limit_override", None)
    if value is None:
        value = getattr(getattr(request.state, "principal", None), "rate_limit_override", None)
    if isinstance(value, Mapping):
        value = value.get(kind)
    return value if isinstance(value, str) and value.strip() else None


async def check_rate_limit(request: Request, kind: Kind) -> None:
    """Count this request against the caller's `kind` limit; 429 when it is used up.

    Counted once per request, however many times the dependency is attached.
    """
    limiter = getattr(request.app.state, "rate_limiter", None)
    if not isinstance(limiter, RateLimiter):
        return
    state: dict[str, Any] = request.scope.setdefault("state", {})
    applied: set[str] = state.setdefault(STATE_APPLIED, set())
    if kind in applied:
        return
    applied.add(kind)
    identity = caller_identity(request)
    status = await limiter.hit(kind, identity, _override(request, kind))
    if status is None:
        return
    remember(request.scope, status)
    if status.exceeded:
        await report_limited(request.app, request.scope, status, identity)
        raise HTTPException(
            status_code=429,
            detail=limited_message(status),
            headers={"Retry-After": str(status.reset_seconds)},
        )


def _dependency(kind: Kind) -> Callable[[Request], Awaitable[None]]:
    async def dependency(request: Request) -> None:
        await check_rate_limit(request, kind)

    dependency.__name__ = f"enforce_{kind}_rate_limit"
    dependency.__doc__ = f"Count the request against the caller's {kind} rate limit."
    return dependency


_DEPENDENCIES: dict[Kind, Callable[[Request], Awaitable[None]]] = {
    "chat": _dependency("chat"),
    "ingest": _dependency("ingest"),
}


def enforce_rate_limit(kind: Kind) -> Callable[[Request], Awaitable[None]]:
    """The FastAPI dependency enforcing the per-key `kind` limit:
    `@router.post(..., dependencies=[Depends(enforce_rate_limit("chat"))])`."""
    return _DEPENDENCIES[kind]


def api_routes(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every API route with its full path, inside included routers too (FastAPI keeps an
    included router as one entry whose `original_router` holds the routes)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
            continue
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from api_routes(inner.routes, prefix + str(getattr(context, "prefix", "")))


def apply_rate_limits(
    app: FastAPI, limiter: RateLimiter, routes: Mapping[tuple[str, str], Kind] = ROUTE_KINDS
) -> None:
    """Attach `limiter` to `app` and `enforce_rate_limit(kind)` to each route of `routes`.

    The dependency is appended to the route's own dependencies, after its authentication, so
    the key id and the key's own limit are known when it counts. A route that lists it
    already is left alone; a route of `routes` that the application lacks is an error.
    Routers are shared by every application built in the process: the dependency is added
    to a route once, and does nothing in an application that has no limiter.
    """
    app.state.rate_limiter = limiter
    wanted = dict(routes)
    for path, route in api_routes(app.router.routes):
        for method in route.methods or ():
            kind = wanted.pop((method, path), None)
            if kind is None:
                continue
            dependency = _DEPENDENCIES[kind]
            if not any(getattr(d, "dependency", None) is dependency for d in route.dependencies):
                route.dependencies.append(Depends(dependency))
    if wanted:
        missing = ", ".join(f"{method} {path}" for method, path in wanted)
        raise RuntimeError(f"rate-limited routes not found in the application: {missing}")
