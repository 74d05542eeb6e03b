"""The audit trail: an append-only record of authentication failures, key creation, rotation
and revocation, document ingestion and deletion, admin actions and rate-limit blocks.

Each event is one `audit_events` row and one structured log line (`audit_event`). An event
names the acting key by its id, never the key; its detail passes through the log redaction
before it is stored. This module can add and read events, nothing else: there is no update or
delete here, and the database itself refuses both (triggers of migration 0002).

`record_event` is the one entry point for other layers (the routes, the CLI, the rate
limiter through `refusals.RefusalAuditor`, which aggregates its refusals); it never raises,
so recording a failure can never turn it into a 500. Changes that must not happen without
their event (key changes) add the row with `new_event` to their own transaction instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select

from ragops.auth import chain as _chain  # noqa: F401  (hooks the hash chain into flushes)
from ragops.auth.models import AuditEvent, AuditEventRead, Outcome
from ragops.db import Database
from ragops.db.base import utcnow
from ragops.observability.context import request_id_var
from ragops.observability.logging import redact_text, redact_value

logger = structlog.stdlib.get_logger("ragops.audit")
_fallback = logging.getLogger(__name__)

MAX_EVENTS = 10_000


def _clip(value: str | None, limit: int) -> str | None:
    return None if value is None else redact_text(value)[:limit]


def _clean_detail(detail: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not detail:
        return None
    plain = json.loads(json.dumps(dict(detail), default=str))
    return {str(k): redact_value(str(k), v) for k, v in plain.items()}


def new_event(
    *,
    action: str,
    outcome: Outcome = "success",
    tenant_id: str | None = None,
    actor_key_id: str | None = None,
    target: str | None = None,
    client_address: str | None = None,
    request_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """An event row for the caller to add to its own transaction (then `log_event` it)."""
    return AuditEvent(
        at=utcnow(),
        tenant_id=tenant_id,
        actor_key_id=actor_key_id,
        action=action[:64],
        target=_clip(target, 256),
        outcome=outcome,
        client_address=_clip(client_address, 64),
        request_id=(request_id or request_id_var.get() or None),
        detail=_clean_detail(detail),
    )


def log_event(event: AuditEvent) -> None:
    """The structured log line of a stored event."""
    log = logger.info if event.outcome == "success" else logger.warning
    log(
        "audit_event",
        action=event.action,
        outcome=event.outcome,
        tenant_id=event.tenant_id,
        actor_key_id=event.actor_key_id,
        target=event.target,
        client_address=event.client_address,
        request_id=event.request_id,
        detail=event.detail,
    )


async def record_event(
    *,
    db: Database,
    action: str,
    outcome: Outcome = "success",
    tenant_id: str | None = None,
    actor_key_id: str | None = None,
    target: str | None = None,
    client_address: str | None = None,
    request_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Append one event (row and log line). Never raises: a failed write is logged as an error
    together with the event, and the caller carries on."""
    event = new_event(
        action=action,
        outcome=outcome,
        tenant_id=tenant_id,
        actor_key_id=actor_key_id,
        target=target,
        client_address=client_address,
        request_id=request_id,
        detail=detail,
    )
    log_event(event)
    try:
        async with db.session() as session:
            session.add(event)
            await session.commit()
    except Exception:
        _fallback.error("could not store the audit event %s (%s)", action, outcome, exc_info=True)


async def list_events(
    *,
    db: Database,
    tenant_id: str | None = None,
    since: datetime | None = None,
    action: str | None = None,
    limit: int = 1000,
) -> list[AuditEventRead]:
    """Events oldest first: the newest `limit` ones since `since`, of one tenant or of all."""
    query = select(AuditEvent)
    if tenant_id is not None:
        query = query.where(AuditEvent.tenant_id == tenant_id)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    query = query.order_by(AuditEvent.id.desc()).limit(max(1, min(limit, MAX_EVENTS)))
    async with db.session() as session:
        rows = list((await session.scalars(query)).all())
    return [AuditEventRead.model_validate(row) for row in reversed(rows)]
