"""The rate limits' counter: hits per (limit, identity) in a moving window, shared by every
instance through Redis, or per instance in process memory.

A limit is a `limits` string such as `60/minute` (several: `5/second;60/minute`), parsed once
(`parse_limits`); `RateLimiter.hit` counts one request against the named limit and answers
the status of the limit closest to exhaustion (`LimitStatus`). Counting uses the
moving-window strategy of `limits`, in Redis (`RAGOPS_REDIS_URL`; keys prefixed `ragops-rl`)
so that all instances share one count, or in process memory when no Redis is configured.
When Redis cannot be reached (or answers slower than `REDIS_TIMEOUT_SECONDS`) the limits fall
back to per-instance counters in process memory, as the RedisDown runbook says: each
instance then enforces the whole limit on its own. Redis is tried again every
`RETRY_SHARED_SECONDS`; the switch each way is logged once and shown by
`ragops_fallback_active{component="rate_limit"}`.

Which requests count against which limit, and what a refusal answers, is `rate_limit`
(per key, on routes) and `ip_limit` (per client address, as middleware).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from ragops.config import Settings
from ragops.observability.degradation import fallback_engaged, fallback_recovered

LimitName = Literal["chat", "ingest", "per_ip"]

KEY_PREFIX = "ragops-rl"
CLEAN_EVERY_SECONDS = 1.0
REDIS_TIMEOUT_SECONDS = 0.5
RETRY_SHARED_SECONDS = 2.0
FALLBACK_COMPONENT = "rate_limit"


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
        await release_storages(self.storage, self.local_storage)


async def release_storages(shared: Any, local: Any) -> bool:
    """Release a pair of `limits` async storages at shutdown (the rate limits', the ingest
    quota's): the shared one's Redis connections, and the expiry timer task of each memory
    one. Best effort, never raises: False when closing the Redis client failed."""
    closed = True
    client = getattr(getattr(shared, "bridge", None), "storage", None)
    close = getattr(client, "aclose", None)
    if close is not None:
        try:
            await close()
        except Exception:  # closing at shutdown is best effort
            closed = False
    for storage in (shared, local):
        timer = getattr(storage, "timer", None)
        if timer is not None and not timer.done():
            timer.cancel()
    return closed


def most_pressing(statuses: list[LimitStatus]) -> LimitStatus | None:
    """An exceeded status first, else the one with the fewest remaining (latest reset)."""
    if not statuses:
        return None
    exceeded = [s for s in statuses if s.exceeded]
    if exceeded:
        return max(exceeded, key=lambda s: s.reset_seconds)
    return min(statuses, key=lambda s: (s.remaining, -s.reset_seconds))
