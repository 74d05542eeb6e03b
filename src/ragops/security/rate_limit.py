"""Rate limits per API key and per client address, shared by every instance through Redis.

Three limits, each a `limits` string such as `60/minute` (several: `5/second;60/minute`):

- `per_ip` (`RAGOPS_RATE_LIMIT_PER_IP`): every `/v1` request, by client address (see
  `proxies.client_address`); enforced by `ClientRateLimitMiddleware` before routing.
- `chat` (`RAGOPS_RATE_LIMIT_CHAT`) and `ingest` (`RAGOPS_RATE_LIMIT_INGEST`): per caller on
  the routes of `ROUTE_KINDS`, enforced by the dependency `enforce_rate_limit(kind)`. The
  caller is the key id the auth layer left in `request.state` (`key_id`, or
  `principal.key_id`), else the SHA-256 of the API key presented (`Authorization: Bearer` or
  `X-API-Key`), else the client address. A key may carry its own limit string in
  `request.state.rate_limit_override` (one string for both kinds, or a mapping by kind).
  `apply_rate_limits` appends the dependency to the routes of `ROUTE_KINDS`, after their own
  (authentication) dependencies, so the routers need no change.

Counting uses the moving-window strategy of `limits`, in Redis (`RAGOPS_REDIS_URL`; keys
prefixed `ragops-rl`) so that all instances share one count, or in process memory when no
Redis is configured. A refused request is answered 429 `rate_limited` with `Retry-After`;
responses of limited routes carry `RateLimit-Limit`, `RateLimit-Remaining` and
`RateLimit-Reset` (seconds) of the limit closest to exhaustion. A refusal is counted in
`ragops_rate_limited_total{limit}`, logged as the event `rate_limited`, and passed to
`app.state.security_event_hook(event, details)` when the application set one. When Redis
cannot be reached (or answers slower than `REDIS_TIMEOUT_SECONDS`) the limits fall back to
per-instance counters in process memory, as the RedisDown runbook says: each instance then
enforces the whole limit on its own. Redis is tried again every `RETRY_SHARED_SECONDS`; the
switch each way is logged once and shown by `ragops_fallback_active{component="rate_limit"}`.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import structlog
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.routing import APIRoute
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from starlette.routing import BaseRoute
from starlette.types import Scope

from ragops.config import Settings
from ragops.observability.degradation import fallback_engaged, fallback_recovered
from ragops.observability.metrics import record_rate_limited
from ragops.security.proxies import client_address

Kind = Literal["chat", "ingest"]
LimitName = Literal["chat", "ingest", "per_ip"]
SecurityEventHook = Callable[[str, dict[str, Any]], Awaitable[None] | None]

KEY_PREFIX = "ragops-rl"
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

CLEAN_EVERY_SECONDS = 1.0
REDIS_TIMEOUT_SECONDS = 0.5
RETRY_SHARED_SECONDS = 2.0
FALLBACK_COMPONENT = "rate_limit"
log = structlog.get_logger(__name__)


class RateLimitConfigError(ValueError):
    """A rate limit setting is not a valid `limits` string."""


@dataclass(frozen=True, slots=True)
class LimitStatus:
    """Where one caller stands against one limit after this request."""

    name: str
    limit: int
    remaining: int
    reset_seconds: int
    exceeded: bool
    description: str


@lru_cache(maxsize=256)
def parse_limits(value: str) -> tuple[RateLimitItem, ...]:
    """The limits of a string such as `60/minute` or `5/second;100/hour`."""
    try:
        items = tuple(parse_many(value))
    except ValueError as exc:
        raise RateLimitConfigError(f"{value!r} is not a rate limit (write e.g. 60/minute)") from exc
    if not items:
        raise RateLimitConfigError(f"{value!r} is not a rate limit (write e.g. 60/minute)")
    return items


class MemoryCounts(MemoryStorage):
    """The `limits` in-process storage, cleaning out expired entries at most once every
    `CLEAN_EVERY_SECONDS`: the library starts its clean-up (a task, and a worker thread per
    counted key) after every hit, which cost a cached answer more CPU than the rest of its
    rate limiting. Windows are computed from each entry's time, so cleaning later changes no
    count; it only frees memory a second later."""

    _cleaned_at = -math.inf

    async def _MemoryStorage__schedule_expiry(self) -> None:  # the library's private hook
        now = time.monotonic()
        if now - self._cleaned_at < CLEAN_EVERY_SECONDS:
            return
        self._cleaned_at = now
        await super()._MemoryStorage__schedule_expiry()  # type: ignore[misc]


def memory_storage() -> MemoryCounts:
    """A fresh in-process counter storage."""
    return MemoryCounts("async+memory://")


def storage_uri(settings: Settings) -> str:
    """The `limits` storage: Redis when `RAGOPS_REDIS_URL` is set, else process memory."""
    if settings.redis_url is None:
        return "async+memory://"
    url = settings.redis_url.get_secret_value()
    if url.startswith("unix://"):
        return "async+redis+unix://" + url.removeprefix("unix://")
    return url if url.startswith("async+") else "async+" + url


class RateLimiter:
    """Counts hits per (limit, identity) in the shared storage, or per instance while the
    shared storage is unreachable."""

    def __init__(self, uri: str, limits: Mapping[LimitName, str]) -> None:
        self.uri = uri
        self.shared = not uri.startswith("async+memory")
        options: dict[str, Any] = {}
        if self.shared:
            options = {
                "implementation": "redispy",
                "key_prefix": KEY_PREFIX,
                "socket_timeout": REDIS_TIMEOUT_SECONDS,
                "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
            }
        self.storage = (
            storage_from_string(uri, wrap_exceptions=True, **options)
            if self.shared
            else memory_storage()
        )
        self.strategy = MovingWindowRateLimiter(self.storage)
        self.local_storage = memory_storage()
        self.local_strategy = MovingWindowRateLimiter(self.local_storage)
        self.limits: dict[str, tuple[RateLimitItem, ...]] = {}
        for name, value in limits.items():
            try:
                self.limits[name] = parse_limits(value)
            except RateLimitConfigError as exc:
                raise RateLimitConfigError(f"RAGOPS_RATE_LIMIT_{name.upper()}: {exc}") from None
        self._shared_retry_at = -math.inf
        self.fallback_reason: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        return cls(
            storage_uri(settings),
            {
                "chat": settings.rate_limit_chat,
                "ingest": settings.rate_limit_ingest,
                "per_ip": settings.rate_limit_per_ip,
            },
        )

    @property
    def degraded(self) -> bool:
        """Whether the limits are counted per instance because the shared storage is down."""
        return self.fallback_reason is not None

    async def hit(
        self, name: str, identity: str, override: str | None = None
    ) -> LimitStatus | None:
        """Count one request; the status of the limit closest to exhaustion (an exceeded one
        first), or None when no limit applies. Falls back to per-instance counters when the
        shared storage fails."""
        items = parse_limits(override) if override else self.limits.get(name, ())
        if self.shared and time.monotonic() >= self._shared_retry_at:
            try:
                statuses = await self._count(self.strategy, items, name, identity)
            except Exception as exc:  # Redis down or timing out: count per instance
                self._shared_retry_at = time.monotonic() + RETRY_SHARED_SECONDS
                self.fallback_reason = f"shared storage unavailable ({type(exc).__name__})"
                fallback_engaged(FALLBACK_COMPONENT, self.fallback_reason)
            else:
                if self.fallback_reason is not None:
                    self.fallback_reason = None
                    fallback_recovered(FALLBACK_COMPONENT)
                return most_pressing(statuses)
        return most_pressing(await self._count(self.local_strategy, items, name, identity))

    @staticmethod
    async def _count(
        strategy: MovingWindowRateLimiter,
        items: Iterable[RateLimitItem],
        name: str,
        identity: str,
    ) -> list[LimitStatus]:
        statuses: list[LimitStatus] = []
        for item in items:
            allowed = await strategy.hit(item, name, identity)
            stats = await strategy.get_window_stats(item, name, identity)
            reset = max(1, math.ceil(stats.reset_time - time.time()))
            statuses.append(
                LimitStatus(
                    name=name,
                    limit=item.amount,
                    remaining=max(0, stats.remaining),
                    reset_seconds=reset,
                    exceeded=not allowed,
                    description=str(item),
                )
            )
        return statuses

    async def aclose(self) -> None:
        """Release the storage's connections (Redis) or timer task (memory)."""
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        close = getattr(client, "aclose", None)
        if close is not None:
            try:
                await close()
            except Exception:  # closing at shutdown is best effort
                pass
        for storage in (self.storage, self.local_storage):
            timer = getattr(storage, "timer", None)
            if timer is not None and not timer.done():
                timer.cancel()


def most_pressing(statuses: list[LimitStatus]) -> LimitStatus | None:
    """An exceeded status first, else the one with the fewest remaining (latest reset)."""
    if not statuses:
        return None
    exceeded = [s for s in statuses if s.exceeded]
    if exceeded:
        return max(exceeded, key=lambda s: s.reset_seconds)
    return min(statuses, key=lambda s: (s.remaining, -s.reset_seconds))


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
