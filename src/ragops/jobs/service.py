"""Background ingestion jobs: create, show, cancel, and run one (`run_job`).

A job's files and progress live in the database, so any instance can run it and every
instance can show it. Running a job claims it (`queued` or `interrupted` -> `running`, one
compare-and-set UPDATE, so two instances never run the same job), then ingests its remaining
files a slice at a time (`SLICE_BYTES`, through `documents.batch.ingest_batch`, so the
bytes in memory stay bounded); after each slice the outcomes and counts are recorded and the
slice's file rows deleted. A watcher reads `cancel_requested` every `CANCEL_POLL_SECONDS` and
stops the work at its next step (between embedding slices of 64 chunks). A shutdown cancels
the work the same way, and the job is left `interrupted` with its remaining files, to be
resumed by the next instance that starts (in-process queue) or takes it from Redis.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import delete, func, select, update

from ragops.db import Database
from ragops.db.base import new_id, utcnow
from ragops.documents.batch import ingest_batch
from ragops.documents.service import IngestDeps
from ragops.errors import ConflictError, NotFoundError
from ragops.jobs.models import FINISHED, IngestJob, IngestJobFile, JobRead
from ragops.observability.metrics import INGEST_JOBS

logger = logging.getLogger(__name__)

SLICE_BYTES = 4 * 1024 * 1024
"""Bytes of files read from the database and ingested together (at least one file)."""
SLICE_FILES = 16
"""At most this many files per slice: the progress the API shows moves after each slice."""
CANCEL_POLL_SECONDS = 1.0
INSTANCE = f"{socket.gethostname()}:{os.getpid()}"

FileSpec = tuple[str, bytes, str | None]


class JobCancelled(Exception):
    """The job's owner asked for it to stop."""


async def create_job(
    db: Database, *, tenant_id: str, collection: str, files: Sequence[FileSpec]
) -> JobRead:
    """Store a new queued job and its files in one transaction."""
    job_id = new_id()
    async with db.session() as session, session.begin():
        job = IngestJob(
            id=job_id,
            tenant_id=tenant_id,
            collection=collection,
            state="queued",
            documents_total=len(files),
            results=[],
            created_at=utcnow(),
        )
        session.add(job)
        await session.flush()
        session.add_all(
            IngestJobFile(
                job_id=job_id,
                position=position,
                source=source,
                media_type=media_type,
                size_bytes=len(data),
                data=data,
            )
            for position, (source, data, media_type) in enumerate(files)
        )
    INGEST_JOBS.labels("queued").inc()
    return JobRead.of(job)


async def get_job(db: Database, *, tenant_id: str, job_id: str) -> JobRead:
    """One of the tenant's jobs; 404 `job_not_found` for another tenant's or no job."""
    async with db.session() as session:
        job = await session.get(IngestJob, job_id)
    if job is None or job.tenant_id != tenant_id:
        raise NotFoundError(f"job {job_id} not found", code="job_not_found")
    return JobRead.of(job)


async def list_jobs(db: Database, *, tenant_id: str, limit: int = 50) -> list[JobRead]:
    """The tenant's jobs, newest first."""
    query = (
        select(IngestJob)
        .where(IngestJob.tenant_id == tenant_id)
        .order_by(IngestJob.created_at.desc())
        .limit(limit)
    )
    async with db.session() as session:
        return [JobRead.of(job) for job in (await session.execute(query)).scalars()]


async def cancel_job(db: Database, *, tenant_id: str, job_id: str) -> JobRead:
    """Cancel a job: a waiting one at once, a running one at its next step (the instance
    running it sees the request within about a second). 409 for a finished job."""
    now = utcnow()
    async with db.session() as session, session.begin():
        job = await session.get(IngestJob, job_id, with_for_update=True)
        if job is None or job.tenant_id != tenant_id:
            raise NotFoundError(f"job {job_id} not found", code="job_not_found")
        if job.state in FINISHED:
            if job.state == "cancelled":
                return JobRead.of(job)
            raise ConflictError(f"job {job_id} has already {job.state}", code="job_finished")
        job.cancel_requested = True
        if job.state in ("queued", "interrupted"):
            job.state = "cancelled"
            job.finished_at = now
            await session.execute(delete(IngestJobFile).where(IngestJobFile.job_id == job_id))
            INGEST_JOBS.labels("cancelled").inc()
    return JobRead.of(job)


async def delete_job(db: Database, job_id: str) -> None:
    """Remove a job and its files (one that could not be queued)."""
    async with db.session() as session, session.begin():
        await session.execute(delete(IngestJobFile).where(IngestJobFile.job_id == job_id))
        await session.execute(delete(IngestJob).where(IngestJob.id == job_id))


async def resumable(db: Database) -> list[str]:
    """Jobs waiting to run or interrupted by a shutdown, oldest first."""
    query = (
        select(IngestJob.id)
        .where(IngestJob.state.in_(("queued", "interrupted")))
        .order_by(IngestJob.created_at)
    )
    async with db.session() as session:
        return list((await session.execute(query)).scalars())


async def _claim(db: Database, job_id: str) -> IngestJob | None:
    async with db.session() as session, session.begin():
        claimed = await session.execute(
            update(IngestJob)
            .where(IngestJob.id == job_id, IngestJob.state.in_(("queued", "interrupted")))
            .values(
                state="running",
                instance=INSTANCE,
                attempts=IngestJob.attempts + 1,
                started_at=func.coalesce(IngestJob.started_at, utcnow()),
            )
        )
        if getattr(claimed, "rowcount", 0) != 1:
            return None
        return await session.get(IngestJob, job_id)


async def _next_slice(db: Database, job_id: str) -> list[tuple[int, FileSpec]]:
    """The next files of the job, in order, up to `SLICE_BYTES` (at least one)."""
    async with db.session() as session:
        sizes = (
            await session.execute(
                select(IngestJobFile.position, IngestJobFile.size_bytes)
                .where(IngestJobFile.job_id == job_id)
                .order_by(IngestJobFile.position)
                .limit(SLICE_FILES)
            )
        ).all()
        positions: list[int] = []
        total = 0
        for position, size in sizes:
            if positions and total + size > SLICE_BYTES:
                break
            positions.append(position)
            total += size
        if not positions:
            return []
        rows = (
            await session.execute(
                select(IngestJobFile)
                .where(IngestJobFile.job_id == job_id, IngestJobFile.position.in_(positions))
                .order_by(IngestJobFile.position)
            )
        ).scalars()
        return [(row.position, (row.source, row.data, row.media_type)) for row in rows]


async def _record(
    db: Database, job_id: str, positions: list[int], outcomes: list[dict[str, Any]]
) -> None:
    """Add a finished slice's outcomes and counts; drop its files."""
    failed = sum(1 for o in outcomes if o["status"] == "error")
    chunks = sum(
        (o.get("document") or {}).get("chunk_count", 0)
        for o in outcomes
        if o["status"] in ("created", "updated")
    )
    async with db.session() as session, session.begin():
        job = await session.get(IngestJob, job_id, with_for_update=True)
        if job is None:
            return
        job.results = [*(job.results or []), *outcomes]
        job.documents_done += len(outcomes)
        job.documents_failed += failed
        job.chunks_done += chunks
        await session.execute(
            delete(IngestJobFile).where(
                IngestJobFile.job_id == job_id, IngestJobFile.position.in_(positions)
            )
        )


async def _finish(db: Database, job_id: str, state: str, error: str | None = None) -> None:
    async with db.session() as session, session.begin():
        values: dict[str, Any] = {"state": state, "error": error}
        if state in FINISHED:
            values["finished_at"] = utcnow()
            await session.execute(delete(IngestJobFile).where(IngestJobFile.job_id == job_id))
        await session.execute(update(IngestJob).where(IngestJob.id == job_id).values(**values))
    INGEST_JOBS.labels(state).inc()


async def _cancel_requested(db: Database, job_id: str) -> bool:
    async with db.session() as session:
        flag = await session.scalar(
            select(IngestJob.cancel_requested).where(IngestJob.id == job_id)
        )
    return bool(flag)


async def _ingest(deps: IngestDeps, job: IngestJob) -> None:
    while True:
        if await _cancel_requested(deps.db, job.id):
            raise JobCancelled
        files = await _next_slice(deps.db, job.id)
        if not files:
            return
        outcomes = await ingest_batch(
            deps,
            tenant_id=job.tenant_id,
            collection=job.collection,
            files=[spec for _, spec in files],
        )
        await _record(
            deps.db,
            job.id,
            [position for position, _ in files],
            [o.model_dump(mode="json") for o in outcomes],
        )


async def _watch(db: Database, job_id: str, work: asyncio.Task[None]) -> None:
    """Cancel `work` once the job's cancellation is requested."""
    while not work.done():
        await asyncio.sleep(CANCEL_POLL_SECONDS)
        try:
            if await _cancel_requested(db, job_id):
                work.cancel(JobCancelled.__name__)
                return
        except Exception:  # the database is briefly unreachable: ask again later
            logger.warning("could not read the cancellation flag of job %s", job_id)


async def run_job(
    deps: IngestDeps, job_id: str, on_state: Callable[[str], None] | None = None
) -> str:
    """Run a queued or interrupted job to its end; returns its final state ("skipped" when
    another instance runs it or it is finished). A shutdown (cancellation of this coroutine)
    leaves it `interrupted`, to be resumed."""
    job = await _claim(deps.db, job_id)
    if job is None:
        return "skipped"
    logger.info(
        "job %s: ingesting %d files (attempt %d)", job_id, job.documents_total, job.attempts
    )
    work = asyncio.create_task(_ingest(deps, job))
    watcher = asyncio.create_task(_watch(deps.db, job_id, work))
    state, error = "succeeded", None
    try:
        await asyncio.shield(work)
    except asyncio.CancelledError:
        if work.cancelled() and not _this_task_cancelling():
            state = "cancelled"  # the watcher stopped the work
        else:  # shutdown: stop the work, keep the job for later
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            await asyncio.shield(_finish(deps.db, job_id, "interrupted"))
            logger.info("job %s interrupted by shutdown; it will resume", job_id)
            raise
    except JobCancelled:
        state = "cancelled"
    except Exception as exc:
        logger.exception("job %s failed", job_id)
        state, error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
    finally:
        watcher.cancel()
    await _finish(deps.db, job_id, state, error)
    logger.info("job %s %s", job_id, state)
    if on_state is not None:
        on_state(state)
    return state


def _this_task_cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
