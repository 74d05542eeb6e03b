"""Refused requests in the audit trail (rate-limit blocks and failed key authentication),
aggregated so that a flood never becomes a flood of database writes.

Per caller and fixed window (`window_seconds`, default 60 s), the first refusal is written at
once (so a block or a failed key shows up immediately); the ones that follow in that window
are only counted, and written as one summary row (`detail.count`, `detail.summary = true`,
first and last time, up to five targets) when the window ends or the application stops. At
most two rows per caller per window, whatever the request rate. The caller is:

- `rate_limit.block`: the limit and whom it counts (key id, presented key's hash, address);
- `auth.failure`: the failure's reason, the client address and, for an expired or revoked
  key, its id. Unknown keys from one address are one caller however many different keys are
  tried (a credential-stuffing burst costs two rows a minute); the summary says how many
  different keys were presented (`detail.distinct_keys`, counted by a digest held in memory
  only: a presented key, or any part of it, is never written).

Every refusal is still counted in its metric (`ragops_rate_limited_total`,
`ragops_auth_failures_total`). Summaries are written outside any request, so they carry no
request id.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ragops.auth.audit import record_event
from ragops.db import Database

WINDOW_SECONDS = 60.0
MAX_TARGETS = 5
"""Targets (method and path) a summary names at most."""
MAX_DISTINCT_KEYS = 1000
"""Different presented keys a window counts at most (`distinct_keys` stops there)."""


@dataclass
class _Pending:
    """One caller's window: the first refusal (written), then those counted after it."""

    event: dict[str, Any]
    """The `record_event` arguments of the first refusal."""
    count: int = 0
    first_at: float = 0.0
    last_at: float = 0.0
    targets: set[str] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat()


class RefusalAuditor:
    """The security layer's `app.state.security_event_hook(event, details)` (rate limits) and
    the authentication's `auth_failure` (failed keys), one window per caller."""

    def __init__(self, db: Database, *, window_seconds: float = WINDOW_SECONDS) -> None:
        self.db = db
        self.window_seconds = window_seconds
        self._seen: dict[tuple[int, str, str], _Pending] = {}
        self._flusher: asyncio.Task[None] | None = None

    def _window(self, at: float) -> int:
        return int(at // self.window_seconds)

    async def __call__(self, event: str, details: Mapping[str, Any]) -> None:
        """A rate-limit refusal (`rate_limit.report_limited`)."""
        caller = (str(details.get("limit")), str(details.get("identity")))
        await self._refused(caller, _rate_limit_event(event, details))

    async def auth_failure(
        self,
        *,
        reason: str,
        target: str,
        client_address: str | None,
        tenant_id: str | None = None,
        key_id: str | None = None,
        key_digest: str | None = None,
        signature: str | None = None,
    ) -> None:
        """A request refused for want of a working key, or of a valid webhook signature
        (`signature`: missing or mismatch, counted apart). `key_digest` (a digest of the key
        presented, if any) only counts different keys; it is never written."""
        detail = {"reason": reason}
        if signature is not None:
            detail["signature"] = signature
        event = {
            "action": "auth.failure",
            "outcome": "denied",
            "tenant_id": tenant_id,
            "actor_key_id": key_id,
            "target": target,
            "client_address": client_address,
            "detail": detail,
        }
        caller = (
            f"auth.failure:{reason}:{signature or ''}",
            f"{client_address or ''}|{key_id or ''}",
        )
        await self._refused(caller, event, key_digest)

    async def _refused(
        self, caller: tuple[str, str], event: dict[str, Any], key_digest: str | None = None
    ) -> None:
        now = time.time()
        key = (self._window(now), caller[0], caller[1])
        pending = self._seen.get(key)
        if pending is None:
            pending = self._seen[key] = _Pending(event=event)
            if key_digest is not None:
                pending.keys.add(key_digest)
            self._start_flusher()
            await record_event(db=self.db, **event)
            return
        if pending.count == 0:
            pending.first_at = now
        pending.count += 1
        pending.last_at = now
        if len(pending.targets) < MAX_TARGETS:
            pending.targets.add(str(event.get("target")))
        if key_digest is not None and len(pending.keys) < MAX_DISTINCT_KEYS:
            pending.keys.add(key_digest)

    def _start_flusher(self) -> None:
        if self._flusher is None or self._flusher.done():
            # a context of its own: not the request's that started it (its request id)
            self._flusher = asyncio.get_running_loop().create_task(
                self._flush_loop(), context=contextvars.Context()
            )

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
            event = dict(pending.event)
            detail = dict(event.get("detail") or {})
            detail.update(
                count=pending.count,
                summary=True,
                first_at=_iso(pending.first_at),
                last_at=_iso(pending.last_at),
                window_seconds=self.window_seconds,
                targets=sorted(pending.targets),
            )
            if pending.keys:
                detail["distinct_keys"] = len(pending.keys)
            event["detail"] = detail
            await record_event(db=self.db, **event)
            written += 1
        return written

    async def aclose(self) -> None:
        """Stop the flusher and write every pending summary."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.flush()


def _rate_limit_event(event: str, details: Mapping[str, Any]) -> dict[str, Any]:
    """The `record_event` arguments of a rate-limit refusal."""
    kind, _, value = str(details.get("identity") or "").partition(":")
    skipped = ("identity", "method", "path", "tenant_id")
    tenant_id = details.get("tenant_id")
    return {
        "action": "rate_limit.block" if event == "rate_limited" else f"security.{event}",
        "outcome": "denied",
        "tenant_id": str(tenant_id) if tenant_id else None,
        "actor_key_id": value[:16] if kind == "key" else None,
        "client_address": value if kind == "ip" else None,
        "target": f"{details.get('method')} {details.get('path')}",
        "detail": {k: v for k, v in details.items() if k not in skipped},
    }
