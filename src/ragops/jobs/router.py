"""HTTP routes of background jobs: list, show (with progress) and cancel.

Jobs are created by `POST /v1/documents?async=true` (documents.router); a key sees its own
tenant's jobs only (another tenant's job is 404, as if it did not exist).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from ragops.api.deps import RuntimeDep, TenantDep, require_scope
from ragops.api.openapi import responses as error_responses
from ragops.errors import ServiceUnavailable
from ragops.jobs import service
from ragops.jobs.models import JobList, JobRead
from ragops.jobs.queue import JobQueue

router = APIRouter(prefix="/v1", tags=["jobs"])


def job_queue(request: Request) -> JobQueue:
    """This instance's job queue (started with the application)."""
    queue: JobQueue | None = getattr(request.app.state, "jobs", None)
    if queue is None:
        raise ServiceUnavailable("background jobs are not running yet; retry shortly")
    return queue


@router.get("/jobs", dependencies=[require_scope("ingest")], response_model=JobList)
async def list_jobs(
    runtime: RuntimeDep, tenant_id: TenantDep, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> JobList:
    """The tenant's background jobs, newest first."""
    return JobList(jobs=await service.list_jobs(runtime.db, tenant_id=tenant_id, limit=limit))


@router.get(
    "/jobs/{job_id}",
    dependencies=[require_scope("ingest")],
    response_model=JobRead,
    responses=error_responses(404),
)
async def get_job(runtime: RuntimeDep, tenant_id: TenantDep, job_id: str) -> JobRead:
    """One job: its state, progress (documents and chunks done of the total) and the
    outcome of each finished file."""
    return await service.get_job(runtime.db, tenant_id=tenant_id, job_id=job_id)


@router.delete(
    "/jobs/{job_id}",
    dependencies=[require_scope("ingest")],
    response_model=JobRead,
    responses=error_responses(404, 409),
)
async def cancel_job(runtime: RuntimeDep, tenant_id: TenantDep, job_id: str) -> JobRead:
    """Cancel a job. A waiting job is cancelled at once; a running one stops within a few
    seconds (`cancel_requested` is true until then). Documents it finished stay ingested.
    409 `job_finished` when it has already succeeded or failed."""
    return await service.cancel_job(runtime.db, tenant_id=tenant_id, job_id=job_id)
