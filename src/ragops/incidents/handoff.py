"""The on-call handoff note: who hands over to whom, the open incidents, the alerts of the
shift that ends and the pending (and overdue) action items, as Markdown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from ragops.db import Database
from ragops.incidents.actions import list_action_items
from ragops.incidents.models import ActionItemRead, AlertRead, IncidentAlert, IncidentRead
from ragops.incidents.service import get_all
from ragops.oncall.rotations import RotationConfig
from ragops.oncall.schedule import on_call, shift_start, shifts


@dataclass
class HandoffNote:
    """What the next primary needs to know."""

    at: datetime
    shift_started: datetime
    outgoing: str | None
    incoming: str | None
    incoming_at: datetime | None
    incidents: list[IncidentRead]
    alerts: list[tuple[int | None, AlertRead]]
    action_items: list[ActionItemRead]


async def build(*, db: Database, rotations: RotationConfig, now: datetime) -> HandoffNote:
    """The handoff note at `now` for the primary layer."""
    primary = rotations.layer("primary")
    started = (
        shift_start(primary, rotations.timezone, now) if primary.members else now - timedelta(7)
    )
    outgoing, _ = on_call(rotations, "primary", now)
    upcoming = shifts(rotations, "primary", now, now + timedelta(days=60))
    following = next((s for s in upcoming if s.member != outgoing), None)
    async with db.session() as session:
        rows = await session.scalars(
            select(IncidentAlert)
            .where(IncidentAlert.starts_at >= started)
            .order_by(IncidentAlert.starts_at)
        )
        alerts = [(row.incident_id, AlertRead.model_validate(row)) for row in rows]
    return HandoffNote(
        at=now,
        shift_started=started,
        outgoing=outgoing,
        incoming=following.member if following else None,
        incoming_at=following.start if following else None,
        incidents=await get_all(db=db, status="open"),
        alerts=alerts,
        action_items=await list_action_items(db=db, open_only=True),
    )


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def render(note: HandoffNote) -> str:
    """The note as Markdown."""
    lines = [
        f"# On-call handoff, {_when(note.at)}",
        "",
        f"- Outgoing primary: {note.outgoing or 'nobody (gap)'} (shift since "
        f"{_when(note.shift_started)})",
        f"- Incoming primary: {note.incoming or 'nobody (gap)'} (from {_when(note.incoming_at)})",
        "",
        f"## Open incidents ({len(note.incidents)})",
        "",
    ]
    lines += [
        f"- #{i.id} [{i.severity}] {i.status}: {i.title} (commander: {i.commander or '-'}; "
        f"last update: {i.last_update or 'none'})"
        for i in note.incidents
    ] or ["- none"]
    lines += ["", f"## Alerts of the last shift ({len(note.alerts)})", ""]
    lines += [
        f"- {_when(a.starts_at)} {a.alertname} ({a.labels.get('severity', '-')}), {a.status}"
        + (f", incident #{incident_id}" if incident_id else "")
        for incident_id, a in note.alerts
    ] or ["- none"]
    lines += ["", f"## Pending action items ({len(note.action_items)})", ""]
    today = note.at.date()
    lines += [
        f"- #{item.id} (incident #{item.incident_id}) {item.description}: {item.owner}, due "
        f"{item.due.isoformat() if item.due else '-'}"
        + (" **overdue**" if item.due and item.due < today else "")
        for item in note.action_items
    ] or ["- none"]
    return "\n".join(lines) + "\n"
