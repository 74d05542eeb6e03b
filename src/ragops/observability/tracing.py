"""OpenTelemetry traces: FastAPI, SQLAlchemy and httpx instrumentation exported over OTLP/HTTP
when `RAGOPS_OTLP_ENDPOINT` is set, and nothing at all otherwise.

`span(name)` opens a child span of the current request for one stage of work (`embed`,
`retrieve`, `generate`); it costs nothing when tracing is off. `current_trace_id()` gives the
trace id log lines carry.

Each application gets its own `TracerProvider` (no global provider is set), started and shut
down with the application, so a process may build several applications (tests do).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.util.types import AttributeValue

from ragops import __version__
from ragops.config import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger(__name__)

TRACER_NAME = "ragops"
# Probes, scrapes and the console's polling would drown the useful traces.
EXCLUDED_URLS = "/healthz$,/readyz$,/metrics$,/ops/api/summary$"

_active: TracerProvider | None = None


@contextmanager
def span(name: str, **attributes: AttributeValue) -> Iterator[trace.Span | None]:
    """A span named `name` around the block (child of the current one); no-op when off.

    Yields the span (to add attributes or events) or None when tracing is off.
    """
    provider = _active
    if provider is None:
        yield None
        return
    tracer = provider.get_tracer(TRACER_NAME, __version__)
    with tracer.start_as_current_span(name, attributes=attributes or None) as current:
        yield current


def current_trace_id() -> str | None:
    """The id (32 hex digits) of the trace being recorded now, or None."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x")


def name_request_span(method: str, route: str) -> None:
    """Name the current server span after the route template (`GET /v1/sessions/{id}`)."""
    current = trace.get_current_span()
    if current.is_recording():
        current.update_name(f"{method} {route}")
        current.set_attribute("http.route", route)


def _method_only(scope: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The provisional span name: the method alone, never the raw path."""
    return str(scope.get("method", "HTTP")), {}


def traces_endpoint(base: str) -> str:
    """The OTLP/HTTP traces URL for a collector base URL (or a full `/v1/traces` URL)."""
    base = base.rstrip("/")
    return base if base.endswith("/v1/traces") else base + "/v1/traces"


def parse_headers(raw: str | None) -> dict[str, str]:
    """`name=value,name2=value2` as a dict (blank entries skipped)."""
    headers: dict[str, str] = {}
    for item in (raw or "").split(","):
        name, sep, value = item.partition("=")
        if sep and name.strip():
            headers[name.strip()] = value.strip()
    return headers


class Tracing:
    """The tracer provider of one application and the instrumentation hooked onto it."""

    def __init__(self, settings: Settings) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        assert settings.otlp_endpoint is not None
        resource = Resource.create(
            {
                "service.name": settings.otel_service_name,
                "service.version": __version__,
                "deployment.environment": settings.environment,
            }
        )
        self.provider = TracerProvider(resource=resource)
        secret = settings.otlp_headers.get_secret_value() if settings.otlp_headers else None
        exporter = OTLPSpanExporter(
            endpoint=traces_endpoint(settings.otlp_endpoint),
            headers=parse_headers(secret),
            timeout=5,
        )
        self.provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=1000))
        self._instrumented: list[Any] = []

    def install_middleware(self, app: FastAPI) -> None:
        """Open a server span around every request of `app`, except probes and scrapes.

        The ASGI middleware is added like any other (FastAPI's own instrumentor rebuilds the
        middleware stack, which clashes with the security layer's wrapper); the span is named
        after the route template by `name_request_span` once the request has been routed.
        """
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
        from opentelemetry.util.http import parse_excluded_urls

        app.add_middleware(
            OpenTelemetryMiddleware,
            tracer_provider=self.provider,
            excluded_urls=parse_excluded_urls(EXCLUDED_URLS),
            default_span_details=_method_only,
            exclude_spans=["receive", "send"],
        )

    def start(self, engine: AsyncEngine | None) -> None:
        """Activate `span()`, and trace SQL on `engine` and every httpx call (LLM, Qdrant)."""
        global _active
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        _active = self.provider
        plans: list[tuple[Any, dict[str, Any] | None]] = [
            (HTTPXClientInstrumentor(), {}),
            # The instrumentor's declared range lags SQLAlchemy releases; its event hooks
            # are the stable core events API, so the version check is skipped.
            (
                SQLAlchemyInstrumentor(),
                {"engine": engine.sync_engine, "skip_dep_check": True}
                if engine is not None
                else None,
            ),
        ]
        for instrumentor, options in plans:
            if options is None or instrumentor.is_instrumented_by_opentelemetry:
                continue
            instrumentor.instrument(tracer_provider=self.provider, **options)
            if instrumentor.is_instrumented_by_opentelemetry:
                self._instrumented.append(instrumentor)

    def shutdown(self) -> None:
        """Remove the instrumentation, export the spans still queued, stop the provider."""
        global _active
        for instrumentor in reversed(self._instrumented):
            try:
                instrumentor.uninstrument()
            except Exception:
                logger.warning("could not remove tracing instrumentation", exc_info=True)
        self._instrumented.clear()
        if _active is self.provider:
            _active = None
        self.provider.force_flush(timeout_millis=3000)
        self.provider.shutdown()


def create_tracing(settings: Settings) -> Tracing | None:
    """Tracing for one application when an OTLP endpoint is configured, else None."""
    if not settings.otlp_endpoint:
        return None
    return Tracing(settings)
