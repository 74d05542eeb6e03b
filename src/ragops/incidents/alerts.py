"""Alertmanager webhook payloads (version 4) turned into incidents and timeline events.

- A firing alert not seen before opens an incident for its group (`groupKey`), or attaches to
  the open one of that group. Severity comes from the `severity` label (P1-P4; anything else
  is P3), the runbook from the `runbook_url` annotation (left out when longer than the
  column's 1024 characters). A more severe new alert raises the incident's severity.
- A resolved alert marks the stored alert resolved and adds an "alert resolved" event.
- Alerts are keyed by (fingerprint, startsAt) and events by a dedup key, so a delivery seen
  twice changes nothing; a "firing" delivery arriving after the "resolved" one of the same
  alert is ignored. Deliveries of one group wait for each other (a PostgreSQL advisory lock
  per group, held by the transaction), so two instances receiving the same group at once open
  one incident and the second attaches without trying to open one (a failed insert would
  use up an incident number). Other concurrent deliveries that clash on a unique key are
  retried once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ragops.db import Database
from ragops.db.base import utcnow
from ragops.db.locks import lock_transaction
from ragops.incidents import clock
from ragops.incidents.models import Incident, IncidentAlert
from ragops.incidents.service import add_event, is_duplicate, open_incident
from ragops.oncall.policy import SEVERITIES, Severity
from ragops.schema import IsoDatetime, JsonInt, RequestModel

ACTOR = "alertmanager"
DEFAULT_SEVERITY: Severity = "P3"
ZERO_TIME_YEAR = 1  # Alertmanager sends 0001-01-01T00:00:00Z for "no end"
MAX_RUNBOOK_URL = 1024  # the length of `incidents.runbook_url`


def _with_offset(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(
            "a time needs its UTC offset, as Alertmanager sends it (RFC 3339: "
            "2026-12-03T10:00:00Z or 2026-12-03T11:00:00+01:00)"
        )
    return value


AlertTime = Annotated[IsoDatetime, AfterValidator(_with_offset)]
"""An alert's time: RFC 3339 with its offset, as Alertmanager always sends; a time without
one is refused (a 422 naming the field), never read as UTC or the server's zone."""


class AlertmanagerAlert(RequestModel):
    """One alert of a webhook payload."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: AlertTime
    endsAt: AlertTime | None = None
    generatorURL: str = ""
    fingerprint: str = Field(..., min_length=1, max_length=64)

    @field_validator("endsAt")
    @classmethod
    def _no_end(cls, value: datetime | None) -> datetime | None:
        return None if value is None or value.year <= ZERO_TIME_YEAR else value

    @property
    def runbook_url(self) -> str | None:
        """The `runbook_url` annotation, or None when absent or too long to store (a cut
        link would lead nowhere; the alert still opens its incident)."""
        link = self.annotations.get("runbook_url") or None
        return link if link is not None and len(link) <= MAX_RUNBOOK_URL else None

    @property
    def severity(self) -> Severity:
        """The `severity` label when it is P1-P4, else P3."""
        value = self.labels.get("severity", "").upper()
        return value if value in SEVERITIES else DEFAULT_SEVERITY


class AlertmanagerPayload(RequestModel):
    """The webhook body Alertmanager sends (version 4)."""

    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    groupKey: str = Field(..., min_length=1, max_length=512)
    truncatedAlerts: JsonInt = 0
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[AlertmanagerAlert] = Field(..., max_length=1000)


@dataclass
class IngestResult:
    """What one delivery changed."""

    incident_id: int | None = None
    opened: bool = False
    events: int = 0
    incidents: set[int] = field(default_factory=set)


def _title(payload: AlertmanagerPayload, alert: AlertmanagerAlert) -> str:
    summary = payload.commonAnnotations.get("summary") or alert.annotations.get("summary")
    name = alert.labels.get("alertname", "alert")
    return f"{name}: {summary}" if summary else name


def _key(alert: AlertmanagerAlert) -> str:
    return f"{alert.fingerprint}:{alert.startsAt.isoformat()}"


async def _open_for_group(session: AsyncSession, group_key: str) -> Incident | None:
    found: Incident | None = await session.scalar(
        select(Incident).where(Incident.open_group_key == group_key).with_for_update()
    )
    return found


async def _ingest(
    session: AsyncSession, payload: AlertmanagerPayload, now: datetime
) -> IngestResult:
    result = IngestResult()
    await lock_transaction(await session.connection(), f"ragops:incident-group:{payload.groupKey}")
    incident = await _open_for_group(session, payload.groupKey)
    for alert in sorted(payload.alerts, key=lambda a: (a.startsAt, a.fingerprint)):
        stored = await session.scalar(
            select(IncidentAlert).where(
                IncidentAlert.fingerprint == alert.fingerprint,
                IncidentAlert.starts_at == alert.startsAt,
            )
        )
        if alert.status == "firing":
            if stored is not None:  # a duplicate, or a late "firing" after the "resolved"
                if stored.incident_id is not None:
                    result.incidents.add(stored.incident_id)
                continue
            if incident is None:
                incident = await open_incident(
                    session,
                    title=_title(payload, alert),
                    severity=alert.severity,
                    actor=ACTOR,
                    now=now,
                    summary=alert.annotations.get("description", ""),
                    runbook_url=alert.runbook_url,
                    group_key=payload.groupKey,
                )
                result.opened = True
            elif SEVERITIES.index(alert.severity) < SEVERITIES.index(incident.severity):
                old, incident.severity = incident.severity, alert.severity
                await add_event(
                    session,
                    incident,
                    kind="severity_changed",
                    actor=ACTOR,
                    at=now,
                    message=f"{old} -> {alert.severity} (alert {alert.labels.get('alertname')})",
                )
            if incident.runbook_url is None and alert.runbook_url:
                incident.runbook_url = alert.runbook_url
            session.add(_row(alert, payload.groupKey, incident.id, "firing"))
            added = await add_event(
                session,
                incident,
                kind="alert_fired",
                actor=ACTOR,
                at=alert.startsAt,
                message=f"{alert.labels.get('alertname', 'alert')} fired ({alert.severity})"
                + (f": {alert.annotations['summary']}" if alert.annotations.get("summary") else ""),
                detail={"fingerprint": alert.fingerprint, "labels": alert.labels},
                dedup_key=f"fired:{_key(alert)}",
            )
            result.events += int(added)
            result.incidents.add(incident.id)
            continue
        # resolved
        if stored is None:
            stored = _row(alert, payload.groupKey, incident.id if incident else None, "resolved")
            session.add(stored)
        elif stored.status == "resolved":
            continue
        stored.status = "resolved"
        stored.ends_at = alert.endsAt or now
        owner = await session.get(Incident, stored.incident_id) if stored.incident_id else None
        if owner is not None:
            added = await add_event(
                session,
                owner,
                kind="alert_resolved",
                actor=ACTOR,
                at=stored.ends_at,
                message=f"{alert.labels.get('alertname', 'alert')} resolved",
                detail={"fingerprint": alert.fingerprint},
                dedup_key=f"resolved:{_key(alert)}",
            )
            result.events += int(added)
            result.incidents.add(owner.id)
        await session.flush()
    if incident is not None:
        result.incident_id = incident.id
    elif result.incidents:  # every alert was known (a concurrent delivery stored them)
        result.incident_id = min(result.incidents)
    return result


def _row(
    alert: AlertmanagerAlert, group_key: str, incident_id: int | None, status: str
) -> IncidentAlert:
    return IncidentAlert(
        incident_id=incident_id,
        fingerprint=alert.fingerprint,
        starts_at=alert.startsAt,
        ends_at=alert.endsAt if status == "resolved" else None,
        status=status,
        alertname=alert.labels.get("alertname", "")[:256],
        group_key=group_key,
        labels=alert.labels,
        annotations=alert.annotations,
        received_at=utcnow(),
    )


async def ingest(
    *, db: Database, payload: AlertmanagerPayload, now: datetime | None = None
) -> IngestResult:
    """Apply one webhook delivery in one transaction (retried once on a concurrent clash)."""
    for attempt in range(2):
        try:
            async with db.session() as session:
                result = await _ingest(session, payload, now or clock.now())
                await session.commit()
                return result
        except IntegrityError as exc:
            if attempt or not is_duplicate(exc):
                raise
    raise AssertionError("unreachable")  # pragma: no cover
