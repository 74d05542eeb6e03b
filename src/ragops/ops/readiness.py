"""Readiness: may this instance take traffic now?

Each dependency is checked with a short timeout: the database (`SELECT 1`), the vector store,
Redis (when configured) and the LLM provider (when configured). Results are reused for
`RAGOPS_READINESS_CACHE_SECONDS` and concurrent probes share one check, so probes cannot
overload a dependency. A dependency is `ok`, `degraded` (answered, but slower than
`RAGOPS_READINESS_SLOW_MS`) or `down` (failed or timed out).

The instance is not ready when a required dependency is down, while it drains on shutdown,
while it sheds load (requests in flight at the limit, or checkouts waiting on a full database
pool), and while start-up work still runs in the background (the demo corpus ingesting:
status `ingesting`, its progress under `startup`). The LLM is not required: without it
answers are extractive, so an LLM that is down makes the instance `degraded`, still ready.
Neither is Redis: without it rate limits count per instance and the cache is bypassed (the
RedisDown runbook), so Redis down is `degraded` too; a load balancer keeps every instance in
rotation.

A full database pool is not a database that is down: when every pooled connection is in use,
the database is checked on a connection of its own outside the pool, and answering there makes
it `degraded` with a `note` saying so (the pool's own signals, `db_pool_saturated` and the pool
alerts, tell the rest), so the DatabaseDown alert does not page for a busy pool.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from prometheus_client import Gauge
from sqlalchemy import text

from ragops.config import Settings
from ragops.observability import metrics
from ragops.observability.http_metrics import ServiceLoad
from ragops.observability.logging import redact_text
from ragops.ops.lifecycle import Lifecycle

if TYPE_CHECKING:
    from ragops.runtime import Runtime

Status = Literal["ok", "degraded", "down"]
ERROR_CHARS = 300


def _now_iso(at: float | None = None) -> str:
    return datetime.fromtimestamp(at if at is not None else time.time(), UTC).isoformat()


def describe(exc: BaseException) -> str:
    """A short, redacted description of a failed check."""
    message = str(exc).strip()
    described = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return redact_text(described)[:ERROR_CHARS]


class Warmup(Protocol):
    """Start-up work running in the background (the demo corpus loader)."""

    reason: str

    @property
    def busy(self) -> bool:
        """Whether the work still runs (the instance is not ready meanwhile)."""

    def progress(self) -> dict[str, Any]:
        """Its figures, shown by `/readyz`."""


@dataclass
class DependencyResult:
    """The last check of one dependency."""

    name: metrics.Dependency
    required: bool
    status: Status
    latency_ms: float
    error: str | None
    checked_at: float
    last_error: str | None = None
    last_error_at: float | None = None
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON entry of this dependency."""
        return {
            "status": self.status,
            "required": self.required,
            "latency_ms": round(self.latency_ms, 2),
            "error": self.error,
            "checked_at": _now_iso(self.checked_at),
            "last_error": self.last_error,
            "last_error_at": _now_iso(self.last_error_at) if self.last_error_at else None,
            "note": self.note,
        }


def _gauge(gauge: Gauge) -> float:
    """The value of an unlabelled gauge of this process."""
    for family in gauge.collect():
        for sample in family.samples:
            return float(sample.value)
    return 0.0


def pool_load() -> dict[str, float | None]:
    """Checked-out connections, the pool's maximum (None when unbounded) and waiters."""
    most = _gauge(metrics.DB_POOL_MAX)
    return {
        "checked_out": _gauge(metrics.DB_POOL_CHECKED_OUT),
        "max": None if math.isinf(most) or most <= 0 else most,
        "waiters": _gauge(metrics.DB_POOL_WAITERS),
    }


class Readiness:
    """The readiness checks of one running application."""

    def __init__(
        self,
        runtime: Runtime | None,
        settings: Settings,
        lifecycle: Lifecycle,
        load: ServiceLoad | None,
        warmup: Warmup | None = None,
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.lifecycle = lifecycle
        self.load = load
        self.warmup = warmup
        self._lock = asyncio.Lock()
        self._results: dict[str, DependencyResult] = {}
        self._checked_at = 0.0

    def _checks(self) -> list[tuple[metrics.Dependency, bool, Callable[[], Awaitable[Any]]]]:
        runtime = self.runtime
        if runtime is None:
            return []
        checks: list[tuple[metrics.Dependency, bool, Callable[[], Awaitable[Any]]]] = [
            ("database", True, self._ping_database),
            ("vector_store", True, runtime.store.ping),
        ]
        if runtime.cache.backend == "redis":
            checks.append(("redis", False, runtime.cache.ping))
        if runtime.llm is not None:
            checks.append(("llm", False, runtime.llm.ping))
        return checks

    async def _ping_database(self) -> str | None:
        """`SELECT 1` on a pooled connection; when the pool is full, on a connection outside
        it, returning a note (the database answers, the pool has no free connection)."""
        assert self.runtime is not None
        pool = pool_load()
        most = pool["max"]
        if most is not None and (pool["checked_out"] or 0.0) >= most:
            await self.runtime.db.ping_unpooled()
            return (
                f"pool full: {pool['checked_out']:g} of {most:g} connections in use, "
                f"{pool['waiters'] or 0.0:g} waiting; the database answered outside the pool"
            )
        async with self.runtime.db.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return None

    async def _check_one(
        self, name: metrics.Dependency, required: bool, check: Callable[[], Awaitable[Any]]
    ) -> DependencyResult:
        timeout = self.settings.readiness_timeout_seconds
        started = time.perf_counter()
        error: str | None = None
        note: str | None = None
        try:
            async with asyncio.timeout(timeout):
                answered = await check()
            note = answered if isinstance(answered, str) else None
        except TimeoutError:
            error = f"timed out after {timeout:g} s"
        except Exception as exc:
            error = describe(exc)
        latency_ms = (time.perf_counter() - started) * 1000
        status: Status
        if error is not None:
            status = "down"
        elif note is not None or latency_ms > self.settings.readiness_slow_ms:
            status = "degraded"
        else:
            status = "ok"
        now = time.time()
        previous = self._results.get(name)
        result = DependencyResult(
            name=name,
            required=required,
            status=status,
            latency_ms=latency_ms,
            error=error,
            checked_at=now,
            last_error=error or (previous.last_error if previous else None),
            last_error_at=now if error else (previous.last_error_at if previous else None),
            note=note,
        )
        metrics.set_dependency(name, status != "down")
        return result

    async def dependencies(self) -> tuple[list[DependencyResult], bool]:
        """The dependency results, and whether they came from the cache."""
        if self._fresh():
            return list(self._results.values()), True
        async with self._lock:
            if self._fresh():
                return list(self._results.values()), True
            results = await asyncio.gather(
                *(
                    self._check_one(name, required, check)
                    for name, required, check in self._checks()
                )
            )
            self._results = {result.name: result for result in results}
            self._checked_at = time.monotonic()
            return list(results), False

    def _fresh(self) -> bool:
        age = time.monotonic() - self._checked_at
        return bool(self._results) and age < self.settings.readiness_cache_seconds

    def shedding(self) -> tuple[dict[str, Any], list[str]]:
        """The load figures and the reasons this instance sheds load now (if any)."""
        reasons: list[str] = []
        pool = pool_load()
        in_flight = self.load.in_flight if self.load is not None else 0
        limit = self.load.max_in_flight if self.load is not None else 0
        if self.load is not None and self.load.saturated:
            reasons.append("in_flight_limit")
        most = pool["max"]
        waiters = pool["waiters"] or 0.0
        if (
            most is not None
            and (pool["checked_out"] or 0.0) >= most
            and waiters > self.settings.max_db_pool_waiters
        ):
            reasons.append("db_pool_saturated")
        figures = {
            "shedding": bool(reasons),
            "in_flight": in_flight,
            "max_in_flight": limit or None,
            "db_pool": pool,
        }
        return figures, reasons

    async def report(self) -> tuple[bool, dict[str, Any]]:
        """Whether the instance is ready, and the JSON body of `/readyz`."""
        # Read the pool before checking the database: the check itself takes a connection.
        load, reasons = self.shedding()
        if self.lifecycle.draining:
            reasons.insert(0, "draining")
        if self.runtime is None:
            reasons.insert(0, "starting")
        warmup = self.warmup if self.warmup is not None and self.warmup.busy else None
        if warmup is not None:
            reasons.insert(0, warmup.reason)
        results, cached = await self.dependencies()
        degraded: list[str] = []
        for result in results:
            if result.status == "down" and result.required:
                reasons.append(f"{result.name}_down")
            elif result.status != "ok":
                degraded.append(f"{result.name}_{result.status}")
        ready = not reasons
        status = "not_ready" if not ready else ("degraded" if degraded else "ready")
        if warmup is not None and reasons == [warmup.reason]:
            status = warmup.reason  # only the start-up work keeps it from being ready
        body: dict[str, Any] = {
            "status": status,
            "ready": ready,
            "reasons": reasons + degraded,
            "draining": self.lifecycle.draining,
            "load": load,
            "cached": cached,
            "checked_at": _now_iso(max((r.checked_at for r in results), default=time.time())),
            "dependencies": {result.name: result.as_dict() for result in results},
        }
        if self.warmup is not None:
            body["startup"] = self.warmup.progress()
        return ready, body
