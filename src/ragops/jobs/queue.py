"""The job queues: where background ingestion jobs wait for a worker, and the workers.

`create_job_queue(settings, deps)` picks one (`RAGOPS_JOB_QUEUE`):

- `MemoryJobQueue` (the default): an asyncio queue in this process and
  `RAGOPS_JOB_CONCURRENCY` worker tasks. On start it queues again the jobs the database holds
  as queued or interrupted (the previous run of this instance stopped while they waited).
- `RedisJobQueue` (production, several instances): an arq queue in Redis
  (`RAGOPS_JOB_QUEUE_NAME`); every instance runs an arq worker taking at most
  `RAGOPS_JOB_CONCURRENCY` jobs at a time, so a job runs on whichever instance is free. A
  job interrupted by a shutdown goes back to the Redis queue (arq runs a cancelled job again)
  and resumes on another instance, or this one when it is back.

Either way a job's state and progress are in the database (`jobs.service`), and the number of
workers bounds the CPU that ingestion can take from chat traffic. Stopping the queue cancels
the running jobs, which `run_job` leaves `interrupted` with their remaining files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Protocol

from ragops.config.settings import Settings
from ragops.documents.service import IngestDeps
from ragops.jobs.service import resumable, run_job
from ragops.observability.degradation import fallback_engaged
from ragops.observability.metrics import JOB_QUEUE_DEPTH

logger = logging.getLogger(__name__)

ARQ_FUNCTION = "ingest_job"
WORKER_RESTART_SECONDS = 1.0
"""After Redis failed under the arq worker, seconds before it runs again."""
DEPTH_REFRESH_SECONDS = 5.0
"""Interval at which the Redis queue's depth is read for `ragops_job_queue_depth`."""


class JobQueue(Protocol):
    """Takes job ids and runs them with bounded concurrency."""

    backend: str

    async def start(self) -> None:
        """Start the workers (and pick up jobs left waiting)."""
        ...

    async def enqueue(self, job_id: str) -> None:
        """Queue a stored job."""
        ...

    async def depth(self) -> int:
        """Jobs waiting to run."""
        ...

    async def aclose(self) -> None:
        """Stop the workers; running jobs become `interrupted`."""
        ...


class MemoryJobQueue:
    """Jobs wait in this process; `concurrency` worker tasks run them."""

    backend = "memory"

    def __init__(self, deps: IngestDeps, concurrency: int) -> None:
        self.deps = deps
        self.concurrency = concurrency
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.workers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.workers = [
            asyncio.create_task(self._work(), name=f"ragops-job-worker-{i}")
            for i in range(self.concurrency)
        ]
        waiting = await resumable(self.deps.db)
        for job_id in waiting:
            await self.enqueue(job_id)
        if waiting:
            logger.info("%d background jobs waiting from before; queued again", len(waiting))

    async def enqueue(self, job_id: str) -> None:
        self.queue.put_nowait(job_id)
        JOB_QUEUE_DEPTH.set(self.queue.qsize())

    async def depth(self) -> int:
        return self.queue.qsize()

    async def _work(self) -> None:
        while True:
            job_id = await self.queue.get()
            JOB_QUEUE_DEPTH.set(self.queue.qsize())
            try:
                await run_job(self.deps, job_id)
            except asyncio.CancelledError:
                raise
            except Exception:  # run_job records its own failures; this is the database
                logger.exception("background job %s could not run", job_id)

    async def aclose(self) -> None:
        for worker in self.workers:
            worker.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)
        self.workers = []


class RedisJobQueue:
    """Jobs wait in Redis (arq); this instance's arq worker runs up to `concurrency`."""

    backend = "redis"

    def __init__(self, deps: IngestDeps, settings: Settings, redis_url: str) -> None:
        from arq.connections import RedisSettings

        self.deps = deps
        self.settings = settings
        self.redis_settings = RedisSettings.from_dsn(redis_url)
        self.redis_settings.conn_retries = 1  # an unreachable Redis must not hold the start
        self.queue_name = settings.job_queue_name
        self.pool: Any = None
        self.worker: Any = None
        self.task: asyncio.Task[None] | None = None
        self.depth_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        from arq import create_pool
        from arq.worker import Worker, func

        self.pool = await create_pool(
            self.redis_settings, default_queue_name=self.queue_name, retry=2
        )
        self.worker = Worker(
            functions=[func(self._run, name=ARQ_FUNCTION)],
            queue_name=self.queue_name,
            redis_pool=self.pool,
            max_jobs=self.settings.job_concurrency,
            job_timeout=self.settings.job_timeout_seconds,
            keep_result=3600,
            max_tries=1000,  # each shutdown that interrupts a job counts as a try
            handle_signals=False,
            poll_delay=0.2,
            log_results=False,
        )
        self.task = asyncio.create_task(self._work(), name="ragops-arq-worker")
        self.depth_task = asyncio.create_task(self._watch_depth(), name="ragops-job-queue-depth")
        for job_id in await resumable(self.deps.db):  # e.g. Redis was emptied meanwhile
            await self.enqueue(job_id)

    async def _work(self) -> None:
        """Run the arq worker. Its poll loop ends with the error when Redis goes away; it is
        run again every `WORKER_RESTART_SECONDS` until Redis answers, so the jobs queued
        after an outage still run on this instance (logged once per outage)."""
        failing = False
        while True:
            started = time.monotonic()
            try:
                await self.worker.async_run()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # a run that lasted met a new outage; one that failed at once, the same one
                if not failing or time.monotonic() - started > 10 * WORKER_RESTART_SECONDS:
                    logger.warning(
                        "job queue worker stopped (%s: %s); restarting until Redis answers",
                        type(exc).__name__,
                        exc,
                    )
                failing = True
            await asyncio.sleep(WORKER_RESTART_SECONDS)

    async def _watch_depth(self) -> None:
        """Keep `ragops_job_queue_depth` current: the shared queue changes as any instance's
        worker takes a job or another instance queues one."""
        while True:
            with contextlib.suppress(Exception):  # Redis down: the next read sets it
                JOB_QUEUE_DEPTH.set(await self.depth())
            await asyncio.sleep(DEPTH_REFRESH_SECONDS)

    async def _run(self, ctx: dict[str, Any], job_id: str) -> str:
        return await run_job(self.deps, job_id)

    async def enqueue(self, job_id: str) -> None:
        # arq keeps one job per id: queuing a job already waiting or running changes nothing
        await self.pool.enqueue_job(ARQ_FUNCTION, job_id, _job_id=f"ingest:{job_id}")
        JOB_QUEUE_DEPTH.set(await self.depth())

    async def depth(self) -> int:
        """Jobs in the Redis queue that no worker runs yet (arq keeps a running job in the
        queue, beside its in-progress key, until it ends)."""
        from arq.constants import in_progress_key_prefix

        job_ids = await self.pool.zrange(self.queue_name, 0, -1)
        if not job_ids:
            return 0
        running = await self.pool.exists(
            *(in_progress_key_prefix + job_id.decode() for job_id in job_ids)
        )
        return len(job_ids) - int(running)

    async def aclose(self) -> None:
        if self.depth_task is not None:
            self.depth_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.depth_task
        if self.worker is not None:
            await self.worker.close()  # cancels running jobs; arq queues them again
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        if self.pool is not None:
            with contextlib.suppress(Exception):
                await self.pool.aclose()


def queue_backend(settings: Settings) -> str:
    """ "memory" or "redis", resolving `auto`."""
    if settings.job_queue != "auto":
        return settings.job_queue
    if settings.environment == "production" and settings.redis_url is not None:
        return "redis"
    return "memory"


async def start_job_queue(settings: Settings, deps: IngestDeps) -> JobQueue:
    """The configured queue, started. When Redis cannot be reached at start, jobs run in
    this process instead (logged, and `ragops_fallback_active{component="job_queue"}` is 1),
    so that the instance still starts; a restart with Redis back uses Redis again."""
    queue = create_job_queue(settings, deps)
    try:
        await queue.start()
    except Exception as exc:
        if queue.backend != "redis":
            raise
        await queue.aclose()
        fallback_engaged("job_queue", f"Redis unreachable at start ({type(exc).__name__})")
        queue = MemoryJobQueue(deps, settings.job_concurrency)
        await queue.start()
    return queue


def create_job_queue(settings: Settings, deps: IngestDeps) -> JobQueue:
    """The configured queue (not started)."""
    if queue_backend(settings) == "redis":
        if settings.redis_url is None:
            raise ValueError("RAGOPS_JOB_QUEUE=redis needs RAGOPS_REDIS_URL")
        return RedisJobQueue(deps, settings, settings.redis_url.get_secret_value())
    return MemoryJobQueue(deps, settings.job_concurrency)
