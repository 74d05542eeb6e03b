"""Body of a worker process of the multiprocess metrics test (importable by spawned children)."""

from __future__ import annotations

from typing import Any


def run(requests: int, ready: Any, release: Any) -> None:
    """Record some metrics as one worker would, signal `ready`, wait for `release`."""
    # Imported here: the child must import prometheus_client with PROMETHEUS_MULTIPROC_DIR set.
    from ragops.observability import metrics

    for _ in range(requests):
        metrics.observe_request("GET", "/v1/chat", 200, 0.05)
    metrics.record_cache("exact", hit=True)
    metrics.set_dependency("database", up=True)
    metrics.set_build_info("0.1.0", "abc1234")
    metrics.HTTP_IN_PROGRESS.inc()  # still "in progress" when the worker exits
    metrics.sample_process()
    ready.release()
    release.wait(60)
