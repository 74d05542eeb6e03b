"""Rate-limit refusals in the audit trail, aggregated so that a flood never becomes a flood of
database writes.

Per (limit, key or address) and fixed window (`window_seconds`, default 60 s), the first
refusal is written at once (`rate_limit.block`, so a block shows up immediately); the ones
that follow in that window are only counted, and written as one summary row (`detail.count`,
`detail.summary = true`, first and last time) when the window ends or the application stops.
At most two rows per caller per window, whatever the request rate. Every refusal is still
counted in `ragops_rate_limited_total`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ragops.auth.audit import record_event
from ragops.db import Database

WINDOW_SECONDS = 60.0


@dataclass
class _Pending:
    """Refusals of one caller in one window after the first (not yet written)."""

    event: str
    details: dict[str, Any]
    count: int = 0
    first_at: float = 0.0
    last_at: float = 0.0
    paths: set[str] = field(default_factory=set)


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat()


class RefusalAuditor:
    """The security layer's `app.state.security_event_hook(event, details)`."""

    def __init__(self, db: Database, *, window_seconds: float = WINDOW_SECONDS) -> None:
        self.db = db
        self.window_seconds = window_seconds
        self._seen: dict[tuple[int, str, str], _Pending] = {}
        self._flusher: asyncio.Task[None] | None = None

    def _window(self, at: float) -> int:
        return int(at // self.window_seconds)

    async def __call__(self, event: str, details: Mapping[str, Any]) -> None:
        now = time.time()
        key = (self._window(now), str(details.get("limit")), str(details.get("identity")))
        pending = self._seen.get(key)
        if pending is None:
            self._seen[key] = _Pending(event=event, details=dict(details))
            self._start_flusher()
            await _write(self.db, event, details)
            return
        if pending.count == 0:
            pending.first_at = now
        pending.count += 1
        pending.last_at = now
        if len(pending.paths) < 5:
            pending.paths.add(f"{details.get('method')} {details.get('path')}")

    def _start_flusher(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        while self._seen:
            now = time.time()
            next_window = (self._window(now) + 1) * self.window_seconds
            await asyncio.sleep(max(0.01, next_window - now))
            await self.flush(before=self._window(time.time()))

    async def flush(self, before: int | None = None) -> int:
        """Write the summaries of the windows before `before` (all when None); how many."""
        done = [k for k in self._seen if before is None or k[0] < before]
        written = 0
        for key in done:
            pending = self._seen.pop(key)
            if pending.count == 0:
                continue
            details = dict(pending.details)
            details.update(
                count=pending.count,
                summary=True,
                first_at=_iso(pending.first_at),
                last_at=_iso(pending.last_at),
                window_seconds=self.window_seconds,
                targets=sorted(pending.paths),
            )
            await _write(self.db, pending.event, details)
            written += 1
        return written

    async def aclose(self) -> None:
        """Stop the flusher and write every pending summary."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.flush()


async def _write(db: Database, event: str, details: Mapping[str, Any]) -> None:
    kind, _, value = str(details.get("identity") or "").partition(":")
    skipped = ("identity", "method", "path", "tenant_id")
    tenant_id = details.get("tenant_id")
    await record_event(
        db=db,
        action="rate_limit.block" if event == "rate_limited" else f"security.{event}",
        outcome="denied",
        tenant_id=str(tenant_id) if tenant_id else None,
        actor_key_id=value[:16] if kind == "key" else None,
        client_address=value if kind == "ip" else None,
        target=f"{details.get('method')} {details.get('path')}",
        detail={k: v for k, v in details.items() if k not in skipped},
    )
