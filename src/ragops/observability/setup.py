"""Install observability on the application: request metrics and access logs, load shedding,
tracing, error reporting, and the database pool metrics once the runtime has started.

`install_observability(app, settings)` stores an `ObservabilityState` on `app.state.observability`
(the settings, the in-flight counter) and wraps the application's lifespan so that, after the
components start, the database pool is instrumented, tracing begins and the request log
starts flushing to the database (`observability.request_log`); at shutdown tracing
and Sentry flush what they still hold.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from ragops.config import Settings
from ragops.observability.db_pool import instrument_pool
from ragops.observability.http_metrics import HttpMetricsMiddleware, ServiceLoad
from ragops.observability.request_log import RequestLog
from ragops.observability.sentry import close_sentry, install_sentry
from ragops.observability.tracing import Tracing, create_tracing

logger = logging.getLogger(__name__)


@dataclass
class ObservabilityState:
    """What the operations endpoints read: the app's settings and its current load."""

    settings: Settings
    load: ServiceLoad
    tracing: Tracing | None
    sentry: bool
    requests: RequestLog


def observability_state(app: Any) -> ObservabilityState | None:
    """The state `install_observability` left on `app`, if any."""
    state = getattr(app.state, "observability", None)
    return state if isinstance(state, ObservabilityState) else None


def install_observability(app: FastAPI, settings: Settings) -> None:
    """Add metrics middleware, tracing and Sentry to `app` as configured."""
    state = ObservabilityState(
        settings=settings,
        load=ServiceLoad(settings.max_in_flight_requests),
        tracing=create_tracing(settings),
        sentry=install_sentry(settings),
        requests=RequestLog(),
    )
    app.state.observability = state
    app.add_middleware(HttpMetricsMiddleware, load=state.load, log=state.requests)
    if state.tracing is not None:  # outside the metrics middleware: its span is current there
        state.tracing.install_middleware(app)

    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(target: Any) -> AsyncIterator[Any]:
        async with inner(target) as inner_state:
            runtime = getattr(target.state, "runtime", None)
            engine = runtime.db.engine if runtime is not None else None
            if engine is not None:
                instrument_pool(engine)
            if state.tracing is not None:
                state.tracing.start(engine)
            if runtime is not None:
                state.requests.start(runtime.db, settings.request_log_flush_seconds)
            try:
                yield inner_state
            finally:
                await state.requests.aclose()
                if state.tracing is not None:
                    state.tracing.shutdown()
        if state.sentry:
            close_sentry()

    app.router.lifespan_context = lifespan
