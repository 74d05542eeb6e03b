"""Liveness and version endpoints (readiness and metrics come with the observability layer)."""

from __future__ import annotations

from fastapi import APIRouter

from ragops import __version__

router = APIRouter(tags=["ops"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: answers while the process runs; touches no dependency."""
    return {"status": "ok"}


@router.get("/version")
async def version() -> dict[str, str]:
    """The running version."""
    return {"version": __version__}
