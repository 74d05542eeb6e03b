"""Incident life: create, read, acknowledge, notes, severity, status changes and action items.

Status moves forward `triggered -> acknowledged -> mitigated -> resolved` (skipping steps
fills them in); `resolved -> triggered` reopens, and escalation starts over. Every change is a
timeline event with its time and actor, written in the same transaction as the change.
Functions take the `Database` and run one transaction each; times come from `now` so tests
drive a controllable clock. The reads (`get_or_raise`, `get_all`, `open_counts`) are in
`queries`, re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ragops.auth.models import aware
from ragops.db import Database
from ragops.errors import ConflictError, NotFoundError
from ragops.incidents import clock
from ragops.incidents.models import (
    STATUSES,
    Incident,
    IncidentEvent,
    IncidentRead,
    Status,
)
from ragops.incidents.queries import OPEN_STATUSES, get_all, get_or_raise, open_counts
from ragops.observability import metrics
from ragops.oncall.policy import Severity


async def add_event(
    session: AsyncSession,
    incident: Incident,
    *,
    kind: str,
    actor: str,
    message: str = "",
    at: datetime | None = None,
    detail: dict[str, Any] | None = None,
    dedup_key: str | None = None,
) -> bool:
    """Append a timeline event; False (and nothing written) when `dedup_key` was seen."""
    if dedup_key is not None:
        seen = await session.scalar(
            select(IncidentEvent.id).where(
                IncidentEvent.incident_id == incident.id, IncidentEvent.dedup_key == dedup_key
            )
        )
        if seen is not None:
            return False
    session.add(
        IncidentEvent(
            incident_id=incident.id,
            at=at or clock.now(),
            actor=actor,
            kind=kind,
            message=message,
            detail=detail,
            dedup_key=dedup_key,
        )
    )
    await session.flush()
    return True


async def open_incident(
    session: AsyncSession,
    *,
    title: str,
    severity: Severity,
    actor: str,
    now: datetime,
    summary: str = "",
    runbook_url: str | None = None,
    group_key: str | None = None,
    customer_facing: bool = False,
) -> Incident:
    """Insert a triggered incident and its "opened" event (flushes; the caller commits)."""
    incident = Incident(
        title=title[:256],
        severity=severity,
        status="triggered",
        summary=summary,
        runbook_url=runbook_url,
        group_key=group_key,
        open_group_key=group_key,
        customer_facing=customer_facing,
        participants=[],
        impact="",
        last_update="",
        page_level=-1,
        created_at=now,
    )
    session.add(incident)
    await session.flush()
    await add_event(
        session,
        incident,
        kind="opened",
        actor=actor,
        at=now,
        message=f"{severity} incident opened: {title}",
    )
    return incident


async def create(
    *,
    db: Database,
    title: str,
    severity: Severity,
    actor: str,
    summary: str = "",
    runbook_url: str | None = None,
    customer_facing: bool = False,
    now: datetime | None = None,
) -> IncidentRead:
    """Declare an incident by hand."""
    async with db.session() as session:
        incident = await open_incident(
            session,
            title=title,
            severity=severity,
            actor=actor,
            now=now or clock.now(),
            summary=summary,
            runbook_url=runbook_url,
            customer_facing=customer_facing,
        )
        await session.commit()
        return IncidentRead.model_validate(incident)


async def locked(session: AsyncSession, incident_id: int) -> Incident:
    """The incident, locked for update; 404 when there is none."""
    incident = await session.get(Incident, incident_id, with_for_update=True)
    if incident is None:
        raise NotFoundError(f"no incident {incident_id}")
    return incident


def _since(incident: Incident, now: datetime) -> float:
    created = aware(incident.created_at)
    assert created is not None
    return (now - created).total_seconds()


def mark_acknowledged(incident: Incident, actor: str, now: datetime) -> None:
    """Record the first acknowledgement (time, metric) and make `actor` the commander when
    there is none; the caller sets the status."""
    if incident.acknowledged_at is None:
        incident.acknowledged_at = now
        metrics.observe_incident_duration("ack", incident.severity, _since(incident, now))
    if incident.commander is None:
        incident.commander = actor


async def acknowledge(
    *, db: Database, incident_id: int, actor: str, now: datetime | None = None
) -> IncidentRead:
    """Acknowledge: stops escalation. Acknowledging twice changes nothing."""
    now = now or clock.now()
    async with db.session() as session:
        incident = await locked(session, incident_id)
        if incident.status == "triggered":
            mark_acknowledged(incident, actor, now)
            incident.status = "acknowledged"
            await add_event(
                session,
                incident,
                kind="acknowledged",
                actor=actor,
                at=now,
                message=f"acknowledged by {actor}",
            )
        await session.commit()
        return IncidentRead.model_validate(incident)


async def set_status(
    *,
    db: Database,
    incident_id: int,
    status: Status,
    actor: str,
    message: str = "",
    now: datetime | None = None,
) -> IncidentRead:
    """Move the incident forward to `status`, or reopen a resolved one ("triggered")."""
    now = now or clock.now()
    async with db.session() as session:
        incident = await locked(session, incident_id)
        current = incident.status
        if status == current:
            return IncidentRead.model_validate(incident)
        if STATUSES.index(status) < STATUSES.index(current):  # type: ignore[arg-type,unused-ignore]
            if not (current == "resolved" and status == "triggered"):
                raise ConflictError(
                    f"incident {incident_id} is {current}; it can only move forward "
                    "(or be reopened once resolved)"
                )
            await _reopen(session, incident)
        else:
            advance(incident, status, actor, now)
        incident.status = status
        text = f"{current} -> {status}" + (f": {message}" if message else "")
        await add_event(
            session,
            incident,
            kind="status_changed",
            actor=actor,
            at=now,
            message=text,
            detail={"from": current, "to": status},
        )
        await session.commit()
        return IncidentRead.model_validate(incident)


def advance(incident: Incident, status: Status, actor: str, now: datetime) -> None:
    """Fill in what moving forward to `status` implies (acknowledgement, mitigation and
    resolution times, metrics, the alert group freed); the caller sets the status and writes
    the timeline event."""
    if STATUSES.index(status) >= 1:
        mark_acknowledged(incident, actor, now)
    if status in ("mitigated", "resolved") and incident.mitigated_at is None:
        incident.mitigated_at = now
    if status == "resolved":
        incident.resolved_at = now
        incident.open_group_key = None
        metrics.observe_incident_duration("resolve", incident.severity, _since(incident, now))


async def _reopen(session: AsyncSession, incident: Incident) -> None:
    incident.resolved_at = None
    incident.mitigated_at = None
    incident.acknowledged_at = None
    incident.page_level = -1
    incident.last_paged_at = None
    incident.escalated_at = None
    if incident.group_key:
        taken = await session.scalar(
            select(Incident.id).where(Incident.open_group_key == incident.group_key)
        )
        incident.open_group_key = None if taken else incident.group_key


async def change_severity(
    *, db: Database, incident_id: int, severity: Severity, actor: str, now: datetime | None = None
) -> IncidentRead:
    """Change the severity (the escalation timers follow the new one)."""
    now = now or clock.now()
    async with db.session() as session:
        incident = await locked(session, incident_id)
        if incident.severity != severity:
            old, incident.severity = incident.severity, severity
            await add_event(
                session,
                incident,
                kind="severity_changed",
                actor=actor,
                at=now,
                message=f"{old} -> {severity}",
                detail={"from": old, "to": severity},
            )
        await session.commit()
        return IncidentRead.model_validate(incident)


async def add_note(
    *,
    db: Database,
    incident_id: int,
    message: str,
    actor: str,
    status_update: bool = False,
    now: datetime | None = None,
) -> IncidentRead:
    """Add a note; a status update also becomes the incident's latest public update."""
    now = now or clock.now()
    async with db.session() as session:
        incident = await locked(session, incident_id)
        if status_update:
            incident.last_update = message
            incident.last_update_at = now
        await add_event(
            session,
            incident,
            kind="note",
            actor=actor,
            at=now,
            message=message,
            detail={"status_update": True} if status_update else None,
        )
        await session.commit()
        return IncidentRead.model_validate(incident)


async def update(
    *,
    db: Database,
    incident_id: int,
    actor: str,
    changes: dict[str, Any],
    now: datetime | None = None,
) -> IncidentRead:
    """Change commander, participants, customer-facing flag or impact."""
    now = now or clock.now()
    async with db.session() as session:
        incident = await locked(session, incident_id)
        changed = {k: v for k, v in changes.items() if v is not None and getattr(incident, k) != v}
        for key, value in changed.items():
            setattr(incident, key, value)
        if changed:
            await add_event(
                session,
                incident,
                kind="updated",
                actor=actor,
                at=now,
                message=", ".join(f"{k} = {v}" for k, v in changed.items()),
                detail=changed,
            )
        await session.commit()
        return IncidentRead.model_validate(incident)


def is_duplicate(exc: IntegrityError) -> bool:
    """Whether an IntegrityError is a unique-constraint clash (a concurrent duplicate)."""
    text = str(exc.orig).lower()
    return "unique" in text or "duplicate" in text


__all__: Sequence[str] = [
    "OPEN_STATUSES",
    "acknowledge",
    "add_event",
    "add_note",
    "advance",
    "change_severity",
    "create",
    "get_all",
    "get_or_raise",
    "is_duplicate",
    "locked",
    "mark_acknowledged",
    "open_counts",
    "open_incident",
    "set_status",
    "update",
]
