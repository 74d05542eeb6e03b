"""Per-request observability as one pure-ASGI middleware: Prometheus request metrics by route
template, one access-log line, the trace id on every log line of the request, the request id
as a Sentry tag, and load shedding when too many requests are in flight.

The route label is the matched route's template (`/v1/sessions/{session_id}`), never the raw
path; a request no route matched is `unmatched`, one refused for overload is `shed`, one
refused because the instance drains (`ops.draining`) is `drain`. A CORS preflight that the
CORS layer answers (outside this middleware, so that a browser reads the refusals of the
layers inside it) is recorded by that layer through `preflight_recorder`, as `OPTIONS` with
route `preflight`, its status and its time.
`/metrics` itself is not recorded. The same requests are counted in the database's request
log (`observability.request_log`) for postmortems written without Prometheus. Operations
endpoints (`/healthz`, `/readyz`, `/version`, `/metrics`, `/ops...`) are never shed and do not
count toward the in-flight limit, so probes and scrapes keep answering under load; nor in
`ragops_http_requests_in_progress`, which counts exactly the requests that limit counts (the
console's "In flight" tile reads that gauge).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragops.errors import send_error
from ragops.observability import metrics
from ragops.observability.access_line import DirectLogger
from ragops.observability.context import request_id_var
from ragops.observability.degradation import request_notes
from ragops.observability.request_log import RequestLog
from ragops.observability.tracing import current_trace_id, name_request_span

METRICS_PATH = "/metrics"
OPS_PATHS = frozenset({"/healthz", "/readyz", "/version", METRICS_PATH, "/ops"})
UNMATCHED = "unmatched"
SHED = "shed"
DRAIN = "drain"
PREFLIGHT = "preflight"
REFUSAL_KEY = "ragops.refusal"
"""Scope key a layer inside this middleware sets to the route label of a request it refused."""

access_logger = DirectLogger("ragops.access")
"""One line a request, written directly when that changes nothing but its cost (access_line)."""


def is_ops_path(path: str) -> bool:
    """Whether `path` is an operations endpoint (never shed, not counted as load)."""
    return path in OPS_PATHS or path.startswith("/ops/")


def mark_refused(scope: Scope, label: str) -> None:
    """Record the request under `label` instead of `unmatched`: refused before any route."""
    scope[REFUSAL_KEY] = label


def route_template(scope: Scope) -> str:
    """The template of the route that handled the request, the label of a refusal, or
    `unmatched`."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(template, str) and template:
        return template
    refusal = scope.get(REFUSAL_KEY)
    return refusal if isinstance(refusal, str) else UNMATCHED


class ServiceLoad:
    """Requests in flight in this process, against the limit that sheds more (0 = none)."""

    def __init__(self, max_in_flight: int) -> None:
        self.max_in_flight = max_in_flight
        self._in_flight = 0
        self._lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        """Requests being served now (operations endpoints excluded)."""
        return self._in_flight

    @property
    def saturated(self) -> bool:
        """Whether a new request would be shed now."""
        return 0 < self.max_in_flight <= self._in_flight

    def try_enter(self) -> bool:
        """Count a request in, unless the limit is reached."""
        with self._lock:
            if 0 < self.max_in_flight <= self._in_flight:
                return False
            self._in_flight += 1
            return True

    def leave(self) -> None:
        """Count a request out."""
        with self._lock:
            self._in_flight = max(self._in_flight - 1, 0)


def record_answered(
    method: str, route: str, status: int, seconds: float, log: RequestLog | None
) -> None:
    """Count one answered request in the metrics and the request log, and write its access
    line (`route`: a template or one of the fixed labels above)."""
    metrics.observe_request(method, route, status, seconds)
    if log is not None:
        log.record(status, seconds)
    access_logger.info(
        "request",
        method=method,
        route=route,
        status=status,
        duration_ms=round(seconds * 1000, 2),
        request_id=request_id_var.get(),
    )


def preflight_recorder(log: RequestLog | None) -> Callable[[int, float], None]:
    """What the CORS layer calls with the status and seconds of a preflight it answered."""

    def record(status: int, seconds: float) -> None:
        record_answered("OPTIONS", PREFLIGHT, status, seconds, log)

    return record


def _status_of(exc: Exception, status: int) -> int:
    """The status an outer layer will answer for `exc` when it says so (`status_code`)."""
    declared = getattr(exc, "status_code", None)
    return declared if isinstance(declared, int) and 400 <= declared <= 599 else status


def _bound(fields: dict[str, Any]) -> AbstractContextManager[Any]:
    """`fields` bound to every log line of the block (nothing to bind: no binding, ~2 us)."""
    return structlog.contextvars.bound_contextvars(**fields) if fields else nullcontext()


def _set_sentry_tag(request_id: str) -> None:
    import sentry_sdk

    if sentry_sdk.is_initialized():
        sentry_sdk.set_tag("request_id", request_id)


class HttpMetricsMiddleware:
    """Record every HTTP request; shed new ones while `load` is saturated."""

    def __init__(self, app: ASGIApp, load: ServiceLoad, log: RequestLog | None = None) -> None:
        self.app = app
        self.load = load
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") == METRICS_PATH:
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        counted = not is_ops_path(path)
        if counted and not self.load.try_enter():
            await self._shed(scope, send)
            return
        method: str = scope.get("method", "GET")
        request_id = request_id_var.get()
        trace_id = current_trace_id()
        bound: dict[str, Any] = {"trace_id": trace_id} if trace_id else {}
        if request_id:
            _set_sentry_tag(request_id)
        status = 500  # unless a response starts, or the error names its own status
        started = time.perf_counter()

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if trace_id:  # routed by now; the span ends with the response body
                    name_request_span(method, route_template(scope))
            await send(message)

        if counted:
            metrics.HTTP_IN_PROGRESS.inc()
        try:
            # request_notes: the fallbacks this request's steps use (observability.degradation)
            with _bound(bound), request_notes():
                await self.app(scope, receive, send_recording)
        except Exception as exc:
            status = _status_of(exc, status)
            raise
        finally:
            if counted:
                metrics.HTTP_IN_PROGRESS.dec()
                self.load.leave()
            seconds = time.perf_counter() - started
            with _bound(bound):
                record_answered(method, route_template(scope), status, seconds, self.log)

    async def _shed(self, scope: Scope, send: Send) -> None:
        metrics.record_shed()
        method: str = scope.get("method", "GET")
        request_id = request_id_var.get()
        await send_error(
            send,
            scope,
            503,
            "overloaded",
            "the service is overloaded; retry shortly",
            [(b"retry-after", b"1")],
        )
        metrics.observe_request(method, SHED, 503, 0.0)
        if self.log is not None:
            self.log.record(503, 0.0)
        access_logger.warning(
            "request shed", method=method, route=SHED, status=503, request_id=request_id
        )
