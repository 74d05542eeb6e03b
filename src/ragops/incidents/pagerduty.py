"""The way back from PagerDuty: deliveries of a Generic Webhooks V3 subscription turned into
acknowledgements and resolutions of ragops incidents.

PagerDuty signs each delivery's raw body with HMAC-SHA256 and the subscription's secret and
sends `X-PagerDuty-Signature: v1=<hex>`, several signatures comma-separated while a secret is
rotated; one match is enough (`signature_valid`, constant-time).

ragops pages PagerDuty through the Events API v2 with the dedup_key `ragops-incident-<n>`;
the PagerDuty incident that opens carries it back as `event.data.incident_key`. Then:

- `incident.acknowledged` acknowledges a triggered ragops incident (the escalation stops),
  actor `pagerduty:<agent>`;
- `incident.resolved` resolves an open one (filling in the steps it skips);
- anything else is ignored with its reason, answered 200 like the rest (PagerDuty retries a
  delivery answered otherwise than 2xx): another event type, an `incident_key` ragops did
  not make or that names no incident, an incident already acknowledged (or further) or
  resolved, a delivery seen before (the event id is the timeline event's dedup key), an
  event that occurred before the incident's current round (its opening, or the reopening
  since: a late echo of an earlier resolution must not close the reopened incident).

The change is recorded at the event's time (never later than its arrival). ragops's escalation
engine then sends `acknowledge` / `resolve` to every channel as after any acknowledgement,
PagerDuty included: there it changes nothing, and the echo PagerDuty may send back is
ignored as "already acknowledged".
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ragops.db import Database
from ragops.incidents import clock
from ragops.incidents.flows import incident_of
from ragops.incidents.models import Incident, IncidentEvent
from ragops.incidents.queries import OPEN_STATUSES, opened_at
from ragops.incidents.service import add_event, advance, is_duplicate, mark_acknowledged
from ragops.schema import IsoDatetime, RequestModel

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-PagerDuty-Signature"
MAX_SIGNATURES = 16  # more than a rotation ever sends; the rest of a longer header is not read
MAX_ACTOR = 128  # the length of `incident_events.actor` and `incidents.commander`
HANDLED = ("incident.acknowledged", "incident.resolved")


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """Whether one `v1=` signature of `header` is the HMAC-SHA256 of `body` under `secret`
    (hex, case-insensitive; compared in constant time)."""
    if not header:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
    matched = False
    for part in header.split(",")[:MAX_SIGNATURES]:
        version, _, value = part.strip().partition("=")
        if version != "v1":
            continue
        given = value.strip().lower().encode("utf-8", "replace")
        matched |= hmac.compare_digest(expected, given)
    return matched


def _with_offset(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("a time needs its UTC offset, as PagerDuty sends it (ISO 8601 ...Z)")
    return value


class PagerDutyReference(RequestModel):
    """A reference PagerDuty sends (the agent: a user, a service or an integration)."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    type: str | None = None
    summary: str | None = None


class PagerDutyData(RequestModel):
    """`event.data`: for incident events, the incident (other fields are not read)."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    type: str | None = None
    incident_key: str | None = None
    title: str | None = None


class PagerDutyEvent(RequestModel):
    """The one event of a V3 delivery."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(..., min_length=1, max_length=200)
    event_type: str = Field(..., min_length=1)
    resource_type: str = ""
    occurred_at: Annotated[IsoDatetime, AfterValidator(_with_offset)]
    agent: PagerDutyReference | None = None
    data: PagerDutyData | None = None


class PagerDutyWebhook(RequestModel):
    """The body of a Generic Webhooks V3 delivery: `{"event": {...}}`."""

    model_config = ConfigDict(extra="ignore")

    event: PagerDutyEvent


class PagerDutyWebhookResult(BaseModel):
    """What a delivery changed: `applied` (the incident is now `status`) or `ignored`."""

    outcome: Literal["applied", "ignored"]
    incident_id: int | None = None
    status: str | None = None
    reason: str


@dataclass
class _Change:
    event: PagerDutyEvent
    agent: str
    at: datetime

    @property
    def actor(self) -> str:
        return f"pagerduty:{self.agent}"[:MAX_ACTOR]

    def detail(self, **extra: Any) -> dict[str, Any]:
        data = self.event.data
        return {
            "source": "pagerduty",
            "pagerduty_event": self.event.id,
            "pagerduty_incident": data.id if data else None,
            "agent": self.agent,
            **extra,
        }


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _agent(event: PagerDutyEvent) -> str:
    agent = event.agent
    name = (agent.summary or agent.id) if agent is not None else None
    return " ".join((name or "PagerDuty").split())[:MAX_ACTOR]


def _ignored(reason: str, incident_id: int | None = None) -> PagerDutyWebhookResult:
    return PagerDutyWebhookResult(outcome="ignored", incident_id=incident_id, reason=reason)


async def apply_event(
    *, db: Database, webhook: PagerDutyWebhook, now: datetime | None = None
) -> PagerDutyWebhookResult:
    """Apply one delivery in one transaction; a concurrent twin (the same event on another
    instance) ends as a duplicate."""
    event = webhook.event
    if event.event_type not in HANDLED:
        return _ignored(f"event type {event.event_type} is not acted on")
    key = event.data.incident_key if event.data else None
    incident_id = incident_of(key)
    if incident_id is None:
        return _ignored("no incident_key of a ragops incident (ragops-incident-<n>)")
    now = now or clock.now()
    change = _Change(event=event, agent=_agent(event), at=min(_utc(event.occurred_at), now))
    try:
        return await _apply(db, incident_id, change)
    except IntegrityError as exc:
        if not is_duplicate(exc):
            raise
        return _ignored("a delivery of this event was applied already", incident_id)


async def _apply(db: Database, incident_id: int, change: _Change) -> PagerDutyWebhookResult:
    event = change.event
    dedup_key = f"pagerduty:{event.id}"
    async with db.session() as session:
        # A write first: it takes the row lock (PostgreSQL) or the database's write lock
        # (SQLite, where FOR UPDATE is a no-op) before anything is read, so deliveries of one
        # incident take turns and the second of two twins sees the first one's change.
        await session.execute(
            update(Incident)
            .where(Incident.id == incident_id)
            .values(id=Incident.id)
            .execution_options(synchronize_session=False)
        )
        incident = await session.get(Incident, incident_id)
        if incident is None:
            return _ignored(f"no incident {incident_id}", incident_id)
        seen = await session.scalar(
            select(IncidentEvent.id).where(
                IncidentEvent.incident_id == incident_id, IncidentEvent.dedup_key == dedup_key
            )
        )
        if seen is not None:
            return _ignored("a delivery of this event was applied already", incident_id)
        round_began = await opened_at(session, incident)
        if round_began is not None and _utc(event.occurred_at) < round_began:
            return _ignored(
                "the event occurred before the incident's current round (opened or reopened since)",
                incident_id,
            )
        current = incident.status
        if event.event_type == "incident.acknowledged":
            if current != "triggered":
                return _ignored(f"incident {incident_id} is already {current}", incident_id)
            mark_acknowledged(incident, change.actor, change.at)
            incident.status = "acknowledged"
            await add_event(
                session,
                incident,
                kind="acknowledged",
                actor=change.actor,
                at=change.at,
                message=f"acknowledged in PagerDuty by {change.agent}",
                detail=change.detail(),
                dedup_key=dedup_key,
            )
        else:
            if current not in OPEN_STATUSES:
                return _ignored(f"incident {incident_id} is already {current}", incident_id)
            advance(incident, "resolved", change.actor, change.at)
            incident.status = "resolved"
            await add_event(
                session,
                incident,
                kind="status_changed",
                actor=change.actor,
                at=change.at,
                message=f"{current} -> resolved: resolved in PagerDuty by {change.agent}",
                detail=change.detail(**{"from": current, "to": "resolved"}),
                dedup_key=dedup_key,
            )
        await session.commit()
        logger.info(
            "incident %s %s in PagerDuty by %s (event %s)",
            incident_id,
            incident.status,
            change.agent,
            event.id,
        )
        return PagerDutyWebhookResult(
            outcome="applied",
            incident_id=incident_id,
            status=incident.status,
            reason=f"{event.event_type} by {change.agent}",
        )
