"""The data behind the `/ops` console: a small ring buffer of samples of the app's own metrics.

Every `RAGOPS_OPS_SAMPLE_SECONDS` the sampler reads the request counter, the latency
histogram and the cache lookups from the metric registry (summed over workers in
multiprocess mode); the summary reads the requests in flight now from the same registry
(`ragops_http_requests_in_progress`, which leaves the operations endpoints out too). The
summary turns consecutive samples into request rate, error rate (5xx share), p95 latency and
cache hit rate. Operations endpoints (probes, scrapes, the
console itself) are left out, so the figures describe the traffic users send.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.metrics_core import Metric

from ragops.observability import metrics
from ragops.observability.http_metrics import is_ops_path

logger = logging.getLogger(__name__)

CAPACITY = 180
WINDOW_SECONDS = 60.0
P95 = 0.95


@dataclass(frozen=True)
class Sample:
    """Cumulative counts at one moment."""

    t: float
    requests: float = 0.0
    errors: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)
    cache_hits: float = 0.0
    cache_lookups: float = 0.0
    cache_semantic_hits: float = 0.0
    routes: dict[str, tuple[float, float]] = field(default_factory=dict)
    in_flight: float = 0.0


def _families() -> Iterable[Metric]:
    path = metrics.multiprocess_dir()
    if path is None:
        for metric in (
            metrics.HTTP_REQUESTS,
            metrics.HTTP_DURATION,
            metrics.CACHE_LOOKUPS,
            metrics.HTTP_IN_PROGRESS,
        ):
            yield from metric.collect()
        return
    registry = CollectorRegistry()
    prometheus_multiprocess.MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    yield from registry.collect()


def read_sample(now: float | None = None) -> Sample:
    """The cumulative counts now."""
    requests = errors = hits = lookups = semantic_hits = in_flight = 0.0
    buckets: dict[float, float] = {}
    routes: dict[str, tuple[float, float]] = {}
    for family in _families():
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "ragops_http_requests_total":
                if is_ops_path(labels.get("route", "")):
                    continue
                failed = sample.value if labels.get("status", "").startswith("5") else 0.0
                requests += sample.value
                errors += failed
                key = f"{labels.get('method', '')} {labels['route']}"
                seen, bad = routes.get(key, (0.0, 0.0))
                routes[key] = (seen + sample.value, bad + failed)
            elif sample.name == "ragops_http_request_duration_seconds_bucket":
                if is_ops_path(labels.get("route", "")):
                    continue
                bound = float(labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
            elif sample.name == "ragops_http_requests_in_progress":
                in_flight += sample.value
            elif sample.name == "ragops_cache_lookups_total":
                # Every question does one exact lookup; the semantic one only follows a miss.
                # The hit rate is the share of questions answered from either.
                cache = labels.get("cache")
                if cache == "exact":
                    lookups += sample.value
                if labels.get("result") == "hit" and cache in ("exact", "semantic"):
                    hits += sample.value
                    if cache == "semantic":
                        semantic_hits += sample.value
    return Sample(
        t=now if now is not None else time.time(),
        requests=requests,
        errors=errors,
        buckets=buckets,
        cache_hits=hits,
        cache_lookups=lookups,
        cache_semantic_hits=semantic_hits,
        routes=routes,
        in_flight=in_flight,
    )


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """The q-quantile of cumulative histogram buckets, interpolated as Prometheus does."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole > 0 else None


def between(old: Sample, new: Sample) -> dict[str, Any]:
    """Rates and ratios over the interval from `old` to `new`."""
    seconds = max(new.t - old.t, 1e-9)
    requests = max(new.requests - old.requests, 0.0)
    errors = max(new.errors - old.errors, 0.0)
    deltas = {b: max(new.buckets.get(b, 0.0) - old.buckets.get(b, 0.0), 0.0) for b in new.buckets}
    p95 = quantile(P95, deltas) if requests > 0 else None
    return {
        "t": round(new.t, 3),
        "request_rate": round(requests / seconds, 4),
        "error_rate": _ratio(errors, requests),
        "p95_ms": round(p95 * 1000, 1) if p95 is not None else None,
        "cache_hit_rate": _ratio(
            max(new.cache_hits - old.cache_hits, 0.0),
            max(new.cache_lookups - old.cache_lookups, 0.0),
        ),
    }


def busiest_routes(old: Sample, new: Sample, limit: int = 10) -> list[dict[str, Any]]:
    """Per route (method and template) over the interval: rate and 5xx share, failing first."""
    seconds = max(new.t - old.t, 1e-9)
    rows: list[dict[str, Any]] = []
    for key, (seen, bad) in new.routes.items():
        before_seen, before_bad = old.routes.get(key, (0.0, 0.0))
        requests, errors = max(seen - before_seen, 0.0), max(bad - before_bad, 0.0)
        if requests > 0:
            rows.append(
                {
                    "route": key,
                    "requests": requests,
                    "errors": errors,
                    "request_rate": round(requests / seconds, 4),
                    "error_rate": _ratio(errors, requests),
                }
            )
    rows.sort(key=lambda row: (-row["errors"], -row["requests"], row["route"]))
    return rows[:limit]


class ConsoleSampler:
    """A ring buffer of samples, filled by a background task."""

    def __init__(self, interval: float, capacity: int = CAPACITY) -> None:
        self.interval = interval
        self.samples: deque[Sample] = deque(maxlen=capacity)
        self._task: asyncio.Task[None] | None = None

    def take(self) -> Sample:
        """Read the metrics now and keep the sample."""
        sample = read_sample()
        self.samples.append(sample)
        return sample

    async def _run(self) -> None:
        while True:
            try:
                self.take()
            except Exception:
                logger.warning("could not sample the metrics", exc_info=True)
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        """Start sampling in the background."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop sampling."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def summary(self) -> dict[str, Any]:
        """Current figures (last minute, up to now) and the series of past intervals."""
        now = read_sample()
        history = list(self.samples)
        start = next((s for s in history if now.t - s.t <= WINDOW_SECONDS), None)
        current = between(start, now) if start is not None and now.t > start.t else None
        series = [between(a, b) for a, b in zip(history, history[1:], strict=False)]
        return {
            "interval_seconds": self.interval,
            "in_flight": max(round(now.in_flight), 0),
            "window_seconds": round(now.t - start.t, 3) if start is not None else 0.0,
            "current": current
            or {"request_rate": 0.0, "error_rate": None, "p95_ms": None, "cache_hit_rate": None},
            "totals": {
                "requests": now.requests,
                "errors": now.errors,
                "cache_hits": now.cache_hits,
                "cache_lookups": now.cache_lookups,
                "cache_semantic_hits": now.cache_semantic_hits,
            },
            "routes": busiest_routes(start, now) if start is not None else [],
            "series": series,
        }
