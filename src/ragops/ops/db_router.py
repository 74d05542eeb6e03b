"""Admin HTTP routes of database first aid (an admin key of the operator tenant "default":
they act on the whole service):

- `GET /v1/admin/db/pools`: the connection pool figures of every running instance (asked over
  PostgreSQL NOTIFY, see `db.signals`; this instance alone on SQLite).
- `POST /v1/admin/db/pool/reset`: every instance replaces its pool without dropping requests
  in flight (an audit event).

The router's lifespan starts this instance's listener.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request

from ragops.api.deps import AuditDep, RuntimeDep, require_operator
from ragops.db.signals import PoolSignals

logger = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def signals_lifespan(app: Any) -> AsyncIterator[None]:
    """Listen for pool signals while the application runs."""
    runtime = getattr(app.state, "runtime", None)
    if runtime is None:
        yield
        return
    signals = PoolSignals(runtime.db)
    try:
        await signals.start()
    except Exception:  # first aid must not stop the service from starting
        logger.warning("cannot listen for database pool signals", exc_info=True)
    app.state.pool_signals = signals
    try:
        yield
    finally:
        await signals.aclose()


router = APIRouter(
    prefix="/v1/admin/db",
    tags=["admin"],
    dependencies=[require_operator()],
    lifespan=signals_lifespan,
)


def _signals(request: Request, runtime: Any) -> PoolSignals:
    signals = getattr(request.app.state, "pool_signals", None)
    return signals if isinstance(signals, PoolSignals) else PoolSignals(runtime.db)


@router.get("/pools")
async def pools(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    """Every running instance's pool: size, in use, idle, overflow, resets so far."""
    signals = _signals(request, runtime)
    return {
        "backend": runtime.db.backend,
        "across_instances": signals.listening,
        "instances": await signals.ask(),
    }


@router.post("/pool/reset")
async def reset_pools(request: Request, runtime: RuntimeDep, audit: AuditDep) -> dict[str, Any]:
    """Every instance disposes of its pool and opens its baseline of fresh connections."""
    signals = _signals(request, runtime)
    how = await signals.reset_all()
    await audit.record("admin.db.pool_reset", detail={"signal": how})
    return {"signal": how, "instance": signals.instance}
