"""The scrape: the exposition of every metric, and the process's own CPU and memory series.

Works with one process or several: when `PROMETHEUS_MULTIPROC_DIR` is set (before the first
import of prometheus_client, as gunicorn or `uvicorn --workers` start each worker), values go
to memory-mapped files in that directory and `render_latest()` sums them across workers
(dropping the live gauges of workers that have exited). The directory must be emptied when the
service starts.

The default process collector is not exported in multiprocess mode, so ragops exports its own
`ragops_process_cpu_seconds_total` and `ragops_process_resident_memory_bytes` (summed over
live workers) in both modes, next to `ragops_cpu_cores` and `ragops_memory_limit_bytes`;
the CPU and memory alerts are ratios of these. They are sampled at most once a second while
requests are observed (`maybe_sample_process`), and at each scrape.

`ragops.observability.metrics` imports this module (so its series are registered with the
rest) and re-exports `render_latest`, `multiprocess_dir` and `sample_process`.
"""

from __future__ import annotations

import os
import threading
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

from ragops.observability import resources

# --- resources (ratios for the CPU and memory alerts) ---
CPU_CORES = Gauge(
    "ragops_cpu_cores", "CPU cores available (cgroup quota or affinity).", multiprocess_mode="max"
)
MEMORY_LIMIT = Gauge(
    "ragops_memory_limit_bytes",
    "Memory available (cgroup limit when set, else physical memory).",
    multiprocess_mode="max",
)
PROCESS_CPU = Counter(
    "ragops_process_cpu_seconds_total", "User and system CPU time of the ragops workers."
)
PROCESS_RSS = Gauge(
    "ragops_process_resident_memory_bytes",
    "Resident memory of the live ragops workers.",
    multiprocess_mode="livesum",
)


class _ProcessSampler:
    """Copies this worker's CPU time and memory into the metrics, at most once a second."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = -1
        self._cpu = 0.0
        self._last = 0.0

    def maybe_sample(self) -> None:
        if time.monotonic() - self._last >= 1.0:
            self.sample()

    def sample(self) -> None:
        with self._lock:
            pid = os.getpid()
            if pid != self._pid:  # first call, or a forked worker: counters start again
                self._pid, self._cpu = pid, 0.0
                CPU_CORES.set(resources.cpu_cores())
                MEMORY_LIMIT.set(resources.memory_limit_bytes())
            cpu = resources.cpu_seconds()
            if cpu > self._cpu:
                PROCESS_CPU.inc(cpu - self._cpu)
                self._cpu = cpu
            rss = resources.resident_memory_bytes()
            if rss is not None:
                PROCESS_RSS.set(rss)
            self._last = time.monotonic()


_sampler = _ProcessSampler()


def sample_process() -> None:
    """Update the CPU, memory and limit metrics of this worker now."""
    _sampler.sample()


def maybe_sample_process() -> None:
    """Update the CPU and memory metrics of this worker unless it was done within a second."""
    _sampler.maybe_sample()


def multiprocess_dir() -> str | None:
    """The multiprocess directory when multiprocess mode is on, else None."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def _reap_dead_workers(path: str) -> None:
    """Drop the live-gauge files of workers that have exited (no server hook needed)."""
    for entry in os.scandir(path):
        parts = entry.name.removesuffix(".db").split("_")
        if len(parts) != 3 or parts[0] != "gauge" or not parts[1].startswith("live"):
            continue
        if not parts[2].isdigit():
            continue
        try:
            os.kill(int(parts[2]), 0)
        except ProcessLookupError:
            _multiprocess.mark_process_dead(int(parts[2]), path)  # type: ignore[no-untyped-call]
        except PermissionError:
            pass


def render_latest() -> tuple[bytes, str]:
    """The exposition text of every metric and its content type, summed across workers."""
    sample_process()
    path = multiprocess_dir()
    if path is None:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    _reap_dead_workers(path)
    registry = CollectorRegistry()
    _multiprocess.MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST
