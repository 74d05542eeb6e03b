"""The service's own record of its HTTP traffic, shared by every instance through the
database: a postmortem written without Prometheus still states the incident window's error
rate and p95 latency truthfully.

Each process counts the requests it answers (the same ones `ragops_http_requests_total`
counts) in 10-second slots: requests, server errors (5xx) and a latency histogram with the
buckets of `ragops_http_request_duration_seconds`. Every `RAGOPS_REQUEST_LOG_FLUSH_SECONDS`,
and when it stops, it adds what it counted to its own rows of `request_slots` (one row per
slot and process instance, so instances never write the same row). A window's figures are the
sums over every instance's rows of the slots the window touches: the window is widened to
whole slots, and requests not yet flushed (at most one flush interval) are missing. Rows older
than `RETENTION_DAYS` are pruned while flushing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Integer, String, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from ragops.db import Database
from ragops.db.base import Base
from ragops.observability.metrics import LATENCY_BUCKETS

logger = logging.getLogger(__name__)

SLOT_SECONDS = 10
RETENTION_DAYS = 35


class RequestSlot(Base):
    """What one process instance answered in one 10-second slot."""

    __tablename__ = "request_slots"

    slot: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # unix time // SLOT_SECONDS
    instance: Mapped[str] = mapped_column(String(96), primary_key=True)
    requests: Mapped[int] = mapped_column(Integer, nullable=False)
    errors: Mapped[int] = mapped_column(Integer, nullable=False)
    # Requests per latency bucket (not cumulative): LATENCY_BUCKETS, then +Inf.
    buckets: Mapped[list[int]] = mapped_column(JSON, nullable=False)


def _bucket(seconds: float) -> int:
    for position, bound in enumerate(LATENCY_BUCKETS):
        if seconds <= bound:
            return position
    return len(LATENCY_BUCKETS)


@dataclass
class _Counts:
    requests: int = 0
    errors: int = 0
    buckets: list[int] | None = None

    def add(self, status: int, seconds: float) -> None:
        if self.buckets is None:
            self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.requests += 1
        self.errors += status >= 500
        self.buckets[_bucket(seconds)] += 1


class RequestLog:
    """Counts this process's requests by slot; flushes them to the database."""

    def __init__(self) -> None:
        self.instance = f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"
        self._pending: dict[int, _Counts] = {}
        self._lock = threading.Lock()
        self._db: Database | None = None
        self._task: asyncio.Task[None] | None = None
        self._pruned = 0.0

    def record(self, status: int, seconds: float, *, at: float | None = None) -> None:
        """Count one answered request (called by the metrics middleware)."""
        slot = int((time.time() if at is None else at) // SLOT_SECONDS)
        with self._lock:
            self._pending.setdefault(slot, _Counts()).add(status, seconds)

    def start(self, db: Database, interval: float) -> None:
        """Flush to `db` every `interval` seconds (0: only when stopping)."""
        self._db = db
        if interval > 0:
            self._task = asyncio.create_task(self._loop(interval), name="request-log")

    async def _loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.flush()
            except Exception:  # the database is down: keep counting, retry next time
                logger.warning("could not write the request log", exc_info=True)

    async def flush(self) -> int:
        """Add the pending counts to this instance's rows; returns how many slots."""
        if self._db is None:
            return 0
        with self._lock:
            pending, self._pending = self._pending, {}
        try:
            async with self._db.session() as session:
                for slot, counts in pending.items():
                    row = await session.get(RequestSlot, (slot, self.instance))
                    buckets = counts.buckets or [0] * (len(LATENCY_BUCKETS) + 1)
                    if row is None:
                        session.add(
                            RequestSlot(
                                slot=slot,
                                instance=self.instance,
                                requests=counts.requests,
                                errors=counts.errors,
                                buckets=buckets,
                            )
                        )
                    else:
                        row.requests += counts.requests
                        row.errors += counts.errors
                        row.buckets = [a + b for a, b in zip(row.buckets, buckets, strict=True)]
                if time.time() - self._pruned > 3600:
                    oldest = int((time.time() - RETENTION_DAYS * 86400) // SLOT_SECONDS)
                    await session.execute(delete(RequestSlot).where(RequestSlot.slot < oldest))
                    self._pruned = time.time()
                await session.commit()
        except BaseException:
            with self._lock:  # put them back: counted next time
                for slot, counts in pending.items():
                    mine = self._pending.setdefault(slot, _Counts())
                    mine.requests += counts.requests
                    mine.errors += counts.errors
                    if counts.buckets is not None:
                        base = mine.buckets or [0] * len(counts.buckets)
                        mine.buckets = [a + b for a, b in zip(base, counts.buckets, strict=True)]
            raise
        return len(pending)

    async def aclose(self) -> None:
        """Stop the timer and write what is still pending."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush()
        except Exception:
            logger.warning("could not write the request log at shutdown", exc_info=True)


@dataclass(frozen=True)
class WindowRecord:
    """Every instance's recorded traffic over a window widened to whole slots."""

    requests: int
    errors: int
    p95_seconds: float | None
    instances: int
    start: datetime
    end: datetime

    @property
    def error_rate(self) -> float | None:
        """Share of requests answered with a 5xx."""
        return self.errors / self.requests if self.requests else None


def quantile(q: float, buckets: list[int]) -> float | None:
    """The q-quantile of per-bucket counts, interpolated within its bucket like
    Prometheus's `histogram_quantile` (the last finite bound when it falls in +Inf)."""
    total = sum(buckets)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for position, count in enumerate(buckets):
        if seen + count >= rank and count:
            if position == len(LATENCY_BUCKETS):
                return float(LATENCY_BUCKETS[-1])
            lower = 0.0 if position == 0 else LATENCY_BUCKETS[position - 1]
            upper = LATENCY_BUCKETS[position]
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
    return float(LATENCY_BUCKETS[-1])


async def window(db: Database, start: datetime, end: datetime) -> WindowRecord | None:
    """Recorded traffic of [start, end] over every instance; None when nothing covers it."""
    first = int(start.timestamp() // SLOT_SECONDS)
    last = int(end.timestamp() // SLOT_SECONDS)
    async with db.session() as session:
        rows = (
            await session.execute(
                select(RequestSlot).where(RequestSlot.slot >= first, RequestSlot.slot <= last)
            )
        ).scalars()
        totals = [0] * (len(LATENCY_BUCKETS) + 1)
        requests = errors = 0
        instances: set[str] = set()
        for row in rows:
            requests += row.requests
            errors += row.errors
            instances.add(row.instance)
            if len(row.buckets) == len(totals):  # rows of other bucket bounds are skipped
                totals = [a + b for a, b in zip(totals, row.buckets, strict=True)]
        if not requests:
            return None
    return WindowRecord(
        requests=requests,
        errors=errors,
        p95_seconds=quantile(0.95, totals),
        instances=len(instances),
        start=datetime.fromtimestamp(first * SLOT_SECONDS, start.tzinfo),
        end=datetime.fromtimestamp((last + 1) * SLOT_SECONDS, start.tzinfo),
    )
