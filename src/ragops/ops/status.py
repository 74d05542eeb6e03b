"""`GET /v1/status`: a public status page of the service, component by component.

Each component is `operational`, `degraded` or `down`, as a status page shows them, so that
customers can be told: the database, the vector store, answer generation (the LLM failover
chain: degraded when a fallback provider or the extractive answerer stands in, down when no
provider can be used), the embedding API when one is configured (degraded while it fails and
the local model stands in), the cache and the shared rate limits (degraded while Redis is down and
they run per instance). The overall status is `down` when a component every request needs is
down, `degraded` when any component is not operational. No secrets, URLs or error texts: only
states. Dependency checks are the readiness checks, reused for `RAGOPS_READINESS_CACHE_SECONDS`.
Limited per client address like every `/v1` route.

`incidents` lists the open incidents a responder marked customer-facing, each with its title,
severity, status and latest status update (docs/incidents.md): what customers are told while
it lasts. With the database down the list is left out (`incidents: null`).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from ragops.incidents.status import public_incidents
from ragops.observability.degradation import active_fallbacks

ComponentStatus = Literal["operational", "degraded", "down"]
_FROM_CHECK: dict[str, ComponentStatus] = {"ok": "operational", "degraded": "degraded"}
ESSENTIAL = {"database", "vector_store"}

logger = logging.getLogger(__name__)

router = APIRouter(tags=["ops"])


def _component(name: str, status: ComponentStatus, description: str) -> dict[str, str]:
    return {"name": name, "status": status, "description": description}


def _llm_component(llm: Any, check: str | None) -> dict[str, str]:
    members = llm.status() if hasattr(llm, "status") else []
    usable = [m for m in members if m["circuit"] != "open"]
    if check == "down" or (members and not usable):
        return _component(
            "answer_generation", "down", "no language model reachable: extractive answers"
        )
    if members and members[0]["circuit"] != "closed":
        return _component(
            "answer_generation",
            "degraded",
            f"primary language model unavailable: fallback {usable[0]['position']} answers",
        )
    status = _FROM_CHECK.get(check or "ok", "operational")
    return _component("answer_generation", status, "language model answers")


@router.get("/v1/status")
async def service_status(request: Request) -> JSONResponse:
    """Each component's state (operational, degraded, down) and the overall one."""
    ops = getattr(request.app.state, "ops", None)
    runtime = getattr(request.app.state, "runtime", None)
    if ops is None or runtime is None:
        raise HTTPException(status_code=503, detail="the service is starting")
    results, _ = await ops.readiness.dependencies()
    checks = {result.name: result.status for result in results}
    components = [_component("api", "operational", "serving requests")]
    for name, description in (("database", "documents, sessions"), ("vector_store", "search")):
        status = _FROM_CHECK.get(checks.get(name, "ok"), "down")
        components.append(_component(name, status, description))
    if runtime.llm is not None:
        components.append(_llm_component(runtime.llm, checks.get("llm")))
    else:
        components.append(_component("answer_generation", "operational", "extractive answers"))
    fallbacks = active_fallbacks()
    if runtime.settings.embedder == "openai":
        remote_down = "embedder" in fallbacks
        components.append(
            _component(
                "embeddings",
                "degraded" if remote_down else "operational",
                "embedding API failing: questions use the local model or wait"
                if remote_down
                else "embedding API",
            )
        )
    if "redis" in checks:
        redis_down = checks["redis"] == "down" or "cache" in fallbacks
        cache: ComponentStatus = "degraded" if redis_down else _FROM_CHECK[checks["redis"]]
        components.append(_component("cache", cache, "bypassed" if redis_down else "shared"))
        limiter = getattr(request.app.state, "rate_limiter", None)
        local = bool(getattr(limiter, "degraded", False)) or checks["redis"] == "down"
        components.append(
            _component(
                "rate_limits",
                "degraded" if local else "operational",
                "counted per instance" if local else "shared by every instance",
            )
        )
    states = {c["name"]: c["status"] for c in components}
    overall: ComponentStatus = "operational"
    if any(states.get(name) == "down" for name in ESSENTIAL):
        overall = "down"
    elif any(status != "operational" for status in states.values()):
        overall = "degraded"
    incidents: list[dict[str, Any]] | None = None
    if states.get("database") != "down":
        try:
            listed = await public_incidents(db=runtime.db)
        except Exception:  # the status page answers even when the database just failed
            logger.warning("status page: customer-facing incidents unavailable", exc_info=True)
        else:
            incidents = [incident.model_dump(mode="json") for incident in listed]
    body = {
        "status": overall,
        "updated_at": datetime.fromtimestamp(time.time(), UTC).isoformat(),
        "components": components,
        "incidents": incidents,
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
