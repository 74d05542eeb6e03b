"""Reading incidents: one with its timeline, alerts and action items; a list by status; the
open ones per severity; where the current round of a reopened incident begins. Each read is
one session; nothing here changes an incident (that is `service`, which re-exports these).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from ragops.db import Database
from ragops.errors import NotFoundError
from ragops.incidents.models import (
    ActionItem,
    ActionItemRead,
    AlertRead,
    EventRead,
    Incident,
    IncidentAlert,
    IncidentDetail,
    IncidentEvent,
    IncidentRead,
    PageRecord,
    Status,
)
from ragops.schema import aware

OPEN_STATUSES: tuple[Status, ...] = ("triggered", "acknowledged", "mitigated")
"""The statuses of an incident not yet resolved."""


async def get_or_raise(*, db: Database, incident_id: int) -> IncidentDetail:
    """The incident with its timeline, alerts and action items; 404 when there is none."""
    async with db.session() as session:
        incident = await session.get(Incident, incident_id)
        if incident is None:
            raise NotFoundError(f"no incident {incident_id}")
        events = await session.scalars(
            select(IncidentEvent)
            .where(IncidentEvent.incident_id == incident_id)
            .order_by(IncidentEvent.at, IncidentEvent.id)
        )
        alerts = await session.scalars(
            select(IncidentAlert)
            .where(IncidentAlert.incident_id == incident_id)
            .order_by(IncidentAlert.starts_at)
        )
        items = await session.scalars(
            select(ActionItem).where(ActionItem.incident_id == incident_id).order_by(ActionItem.id)
        )
        base = IncidentRead.model_validate(incident).model_dump()
        return IncidentDetail(
            **base,
            timeline=[EventRead.model_validate(e) for e in events],
            alerts=[AlertRead.model_validate(a) for a in alerts],
            action_items=[ActionItemRead.model_validate(i) for i in items],
        )


async def get_all(*, db: Database, status: str = "open", limit: int = 100) -> list[IncidentRead]:
    """Incidents, newest first: "open" (not resolved), "all" or one status."""
    query = select(Incident).order_by(Incident.created_at.desc(), Incident.id.desc()).limit(limit)
    if status == "open":
        query = query.where(Incident.status.in_(OPEN_STATUSES))
    elif status != "all":
        query = query.where(Incident.status == status)
    async with db.session() as session:
        return [IncidentRead.model_validate(i) for i in await session.scalars(query)]


async def open_counts(*, db: Database) -> dict[str, int]:
    """Open incidents per severity."""
    async with db.session() as session:
        rows = await session.execute(
            select(Incident.severity, func.count())
            .where(Incident.status.in_(OPEN_STATUSES))
            .group_by(Incident.severity)
        )
        return {str(severity): int(count) for severity, count in rows.all()}


def round_start(incident_id: Any) -> Any:
    """The id of the incident's latest page of the primary: the first page of the current
    round (an incident reopened is paged, acknowledged and resolved again). Page records
    of an earlier round have smaller ids; 0 before any page."""
    first = aliased(PageRecord)
    latest = (
        select(func.max(first.id))
        .where(
            first.incident_id == incident_id,
            first.action == "trigger",
            first.layer == "primary",
        )
        .scalar_subquery()
    )
    return func.coalesce(latest, 0)


async def opened_at(session: AsyncSession, incident: Incident) -> datetime | None:
    """When the current round began: the opening, or the latest reopening (a status_changed
    event whose `detail` goes from resolved to triggered; its message is for people and
    may say anything)."""
    reopened = await session.scalar(
        select(func.max(IncidentEvent.at)).where(
            IncidentEvent.incident_id == incident.id,
            IncidentEvent.kind == "status_changed",
            IncidentEvent.detail["from"].as_string() == "resolved",
            IncidentEvent.detail["to"].as_string() == "triggered",
        )
    )
    return aware(reopened) or aware(incident.created_at)
