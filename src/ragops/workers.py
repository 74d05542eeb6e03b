"""Bounded worker pools for blocking work, so the event loop never waits on it.

Every CPU-heavy or blocking call made from `async` code goes through `run_blocking`, which
runs it in one small, named `ThreadPoolExecutor` of this process:

- `cpu`: ONNX inference, PDF and HTML parsing, chunking, BM25 encoding, prompt-injection
  scans. As many threads as the CPUs the process may use: more would only queue inside the
  libraries (onnxruntime already spreads one run over every core).

The embedded vector store keeps its own one-thread pool (`providers.vectorstore.edge`): its
engine is not to be driven from several threads at once, and each call holds Python's GIL.

Nothing here uses asyncio's default executor, whose size is set by whoever first touches it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")
PoolName = Literal["cpu"]

_pools: dict[str, ThreadPoolExecutor] = {}
_lock = threading.Lock()


def pool_size(name: PoolName) -> int:
    """Threads of pool `name`: the CPUs this process may run on."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - platforms without sched_getaffinity
        cpus = os.cpu_count() or 1
    return max(1, cpus)


def pool(name: PoolName) -> ThreadPoolExecutor:
    """The process-wide pool `name`, created on first use."""
    executor = _pools.get(name)
    if executor is None:
        with _lock:
            executor = _pools.get(name)
            if executor is None:
                executor = ThreadPoolExecutor(
                    max_workers=pool_size(name), thread_name_prefix=f"ragops-{name}"
                )
                _pools[name] = executor
    return executor


async def run_blocking(
    name: PoolName, func: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    """`func(*args, **kwargs)` in pool `name`, with the caller's context variables (request
    id, trace) as `asyncio.to_thread` would; the caller's event loop stays free meanwhile."""
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    call = functools.partial(context.run, func, *args, **kwargs)
    return await loop.run_in_executor(pool(name), call)
