"""Operations endpoints: liveness, readiness, version, Prometheus metrics and the `/ops` console.

- `GET /healthz`: liveness; touches no dependency.
- `GET /readyz`: readiness (see `ops.readiness`); 200 when ready, 503 otherwise.
- `GET /version`: version, commit, build time, image tag and the migration revisions, served
  from memory (the revision is read at start and with each background dependency check), and
  limited per client address like the API.
- `GET /metrics`: Prometheus text format; bearer token or loopback only (see `ops.access`).
- `GET /ops`: the built-in console page; `GET /ops/api/summary`: its data (guarded as
  `/metrics`).

The router's lifespan runs inside the application's, once the runtime has started: it sets
the build-info metric, hooks SIGTERM for draining and samples the metrics for the console;
at shutdown it starts draining before the components close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ragops.api.openapi import responses
from ragops.config import Settings
from ragops.observability import metrics
from ragops.observability.setup import observability_state
from ragops.ops.access import require_metrics_access
from ragops.ops.configured import cache_view, database_view
from ragops.ops.console import ConsoleSampler
from ragops.ops.lifecycle import Lifecycle
from ragops.ops.readiness import Readiness
from ragops.ops.version import BuildInfo, build_info, migration_status

_CONSOLE = files("ragops.web").joinpath("static/ops.html")


logger = logging.getLogger(__name__)


@dataclass
class OpsState:
    """The operations state of one running application."""

    settings: Settings
    build: BuildInfo
    lifecycle: Lifecycle
    readiness: Readiness
    sampler: ConsoleSampler
    migrations: dict[str, Any] = field(default_factory=dict)

    async def refresh_migrations(self, runtime: Any) -> None:
        """Read the database's migration revision for `/version` (kept in memory)."""
        self.migrations = await migration_status(
            runtime.db if runtime is not None else None, self.settings.readiness_timeout_seconds
        )


def _app_settings(app: Any) -> Settings:
    observed = observability_state(app)
    if observed is not None:
        return observed.settings
    runtime = getattr(app.state, "runtime", None)
    if runtime is not None:
        settings: Settings = runtime.settings
        return settings
    from ragops.config import get_settings

    return get_settings()


@asynccontextmanager
async def ops_lifespan(app: Any) -> AsyncIterator[None]:
    """Set up the operations state of `app`; start draining when it shuts down."""
    settings = _app_settings(app)
    runtime = getattr(app.state, "runtime", None)
    observed = observability_state(app)
    lifecycle = Lifecycle()
    build = build_info(settings)
    state = OpsState(
        settings=settings,
        build=build,
        lifecycle=lifecycle,
        readiness=Readiness(
            runtime,
            settings,
            lifecycle,
            observed.load if observed else None,
            getattr(app.state, "demo_corpus", None),
        ),
        sampler=ConsoleSampler(settings.ops_sample_seconds),
    )
    await state.refresh_migrations(runtime)
    app.state.ops = state
    metrics.set_build_info(build.version, build.commit or "unknown")
    lifecycle.hook_sigterm(asyncio.get_running_loop(), settings.drain_seconds)
    state.sampler.start()
    watcher = (
        asyncio.create_task(_watch_dependencies(state, runtime, settings.dependency_check_seconds))
        if settings.dependency_check_seconds > 0 and runtime is not None
        else None
    )
    try:
        yield
    finally:
        lifecycle.begin_draining("shutdown")
        lifecycle.unhook_sigterm()
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await state.sampler.stop()


async def _watch_dependencies(state: OpsState, runtime: Any, interval: float) -> None:
    """Check the dependencies every `interval` seconds, so `ragops_dependency_up` (and the
    alerts on it) follow an outage even when nothing probes /readyz; refresh the migration
    revision `/version` serves."""
    while True:
        try:
            await state.readiness.dependencies()
            await state.refresh_migrations(runtime)
        except Exception:  # a check that cannot run must not stop the watcher
            logger.warning("background dependency check failed", exc_info=True)
        await asyncio.sleep(interval)


router = APIRouter(tags=["ops"], lifespan=ops_lifespan)


def _ops(request: Request) -> OpsState:
    state = getattr(request.app.state, "ops", None)
    if not isinstance(state, OpsState):
        raise HTTPException(status_code=503, detail="the service is starting")
    return state


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: answers while the process runs; touches no dependency."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={
        503: {
            "description": "Not ready: a required dependency is down, or draining "
            "or shedding load; the body says which."
        }
    },
)
async def readyz(request: Request) -> JSONResponse:
    """Readiness: each dependency's status, latency and last error; 503 when not ready."""
    ready, body = await _ops(request).readiness.report()
    headers = {"Cache-Control": "no-store"}
    return JSONResponse(body, status_code=200 if ready else 503, headers=headers)


@router.get("/version", responses=responses(503))
async def version(request: Request) -> dict[str, Any]:
    """Version, commit, build time, image tag and migration revisions (current and head)."""
    state = _ops(request)
    return {**state.build.as_dict(), "migrations": state.migrations}


@router.get("/metrics", response_class=Response, responses=responses(401, 403))
async def prometheus_metrics(request: Request) -> Response:
    """Every metric in Prometheus text format (bearer token, or loopback clients only)."""
    require_metrics_access(request, _app_settings(request.app))
    body, content_type = await asyncio.to_thread(metrics.render_latest)
    return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})


@router.get("/ops", response_class=HTMLResponse, include_in_schema=False)
async def ops_console() -> HTMLResponse:
    """The operations console page (its data comes from /ops/api/summary)."""
    return HTMLResponse(_CONSOLE.read_text(encoding="utf-8"))


@router.get("/ops/api/summary", responses=responses(401, 403, 503))
async def ops_summary(request: Request) -> JSONResponse:
    """Request rate, error rate, p95 latency, cache hit rate, readiness and version."""
    state = _ops(request)
    require_metrics_access(request, state.settings)
    ready, readiness = await state.readiness.report()
    body = {
        "generated_at": time.time(),
        "version": state.build.as_dict(),
        "ready": ready,
        "readiness": readiness,
        **state.sampler.summary(),
    }
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is not None:
        body["cache"] = cache_view(state.settings, runtime.cache.backend)
        body["database"] = database_view(state.settings, runtime.db.backend)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
