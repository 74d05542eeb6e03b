"""What a public status page may show of incidents: the open customer-facing ones, their
severity, status and latest status update; nothing internal (no timeline, no people)."""

from __future__ import annotations

from sqlalchemy import select

from ragops.db import Database
from ragops.incidents.models import Incident, PublicIncident
from ragops.incidents.service import OPEN_STATUSES


async def public_incidents(*, db: Database) -> list[PublicIncident]:
    """Open customer-facing incidents with their latest status update (for a public status
    endpoint such as `GET /v1/status`), newest first."""
    query = (
        select(Incident)
        .where(Incident.customer_facing.is_(True), Incident.status.in_(OPEN_STATUSES))
        .order_by(Incident.created_at.desc())
    )
    async with db.session() as session:
        return [PublicIncident.model_validate(i) for i in await session.scalars(query)]
