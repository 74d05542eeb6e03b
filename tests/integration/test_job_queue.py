"""Which job queue an instance uses (`jobs.queue`), and that an unreachable Redis at start
falls back to the in-process queue, which still runs jobs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import SecretStr

from ragops.jobs import service
from ragops.jobs.queue import MemoryJobQueue, queue_backend, start_job_queue
from ragops.observability.degradation import active_fallbacks, fallback_recovered
from ragops.runtime import Runtime
from tests.conftest import free_port, make_settings


def test_auto_is_redis_in_production_with_a_redis_url_only(tmp_path: Path) -> None:
    url = "redis://127.0.0.1:6379/0"
    assert queue_backend(make_settings(tmp_path)) == "memory"
    assert queue_backend(make_settings(tmp_path, redis_url=url)) == "memory"
    production = make_settings(
        tmp_path, environment="production", redis_url=url, allow_embedded_in_production=True
    )
    assert queue_backend(production) == "redis"
    assert queue_backend(make_settings(tmp_path, job_queue="redis", redis_url=url)) == "redis"


async def test_unreachable_redis_falls_back_to_the_in_process_queue(runtime: Runtime) -> None:
    settings = runtime.settings.model_copy(
        update={"job_queue": "redis", "redis_url": SecretStr(f"redis://127.0.0.1:{free_port()}/0")}
    )
    queue = await start_job_queue(settings, runtime.ingest_deps)
    try:
        assert isinstance(queue, MemoryJobQueue)
        assert "job_queue" in active_fallbacks()
        job = await service.create_job(
            runtime.db,
            tenant_id="default",
            collection="ops",
            files=[("a.md", b"# A\n\nThe restore drill runs on Fridays.\n", None)],
        )
        await queue.enqueue(job.id)
        for _ in range(600):
            shown = await service.get_job(runtime.db, tenant_id="default", job_id=job.id)
            if shown.state == "succeeded":
                break
            await asyncio.sleep(0.1)
        assert shown.state == "succeeded" and shown.progress.chunks_done == 1
    finally:
        await queue.aclose()
        fallback_recovered("job_queue")  # process-wide state: leave none to later tests
