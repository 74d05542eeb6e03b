"""The chat gate: how many questions one process works on at once (`RAGOPS_CHAT_CONCURRENCY`).

Answering is CPU work on a 2-core machine: 32 questions started together interleave their
steps (embedding, searches, database writes, each in its own queue), so a question that
arrived first may finish last and the latency tail grows to several times the mean. Admitting
a few at a time, in arrival order (an `asyncio.Semaphore` wakes waiters first come first
served), lets each finish quickly: the same throughput with a p95 close to the mean
(docs/performance.md, bench/load.py). Time spent waiting for an LLM is not held in a slot,
and an exact answer-cache hit takes none (`chat.service.answer`): it costs about a millisecond
of CPU, mostly waiting for the database, and its turns join a larger group commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol


class Gated(Protocol):
    """Anything carrying the process's gate (None: no limit)."""

    @property
    def gate(self) -> asyncio.Semaphore | None: ...


@asynccontextmanager
async def slot(deps: Gated) -> AsyncIterator[None]:
    """Hold one slot of the gate while the block runs (no gate: no wait)."""
    if deps.gate is None:
        yield
        return
    async with deps.gate:
        yield
