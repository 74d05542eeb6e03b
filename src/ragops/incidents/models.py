"""Tables and API shapes of incidents: the incident, its timeline, its alerts, the pages sent
for it and its postmortem action items.

An incident's `open_group_key` equals its Alertmanager group key while it is not resolved
and is NULL afterwards; a unique constraint on it makes "one open incident per alert group"
hold even when two instances receive the same webhook at once. Alerts are unique by
(fingerprint, startsAt), timeline events by (incident, dedup_key): this is what makes
duplicate and out-of-order deliveries idempotent.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ragops.auth.models import aware
from ragops.db.base import Base, created_column, utcnow
from ragops.oncall.policy import Severity
from ragops.schema import IsoDate, RequestModel

Status = Literal["triggered", "acknowledged", "mitigated", "resolved"]
STATUSES: tuple[Status, ...] = ("triggered", "acknowledged", "mitigated", "resolved")
EventKind = Literal[
    "opened",
    "alert_fired",
    "alert_resolved",
    "paged",
    "notified",
    "page_failed",
    "acknowledged",
    "escalated",
    "severity_changed",
    "status_changed",
    "note",
    "deploy_seen",
    "reminder",
    "action_item",
    "updated",
]


class Incident(Base):
    """One incident."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(256), nullable=False)
    severity: Mapped[str] = mapped_column(String(2), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="triggered")
    commander: Mapped[str | None] = mapped_column(String(128), nullable=True)
    participants: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    customer_facing: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    impact: Mapped[str] = mapped_column(Text, nullable=False, default="")
    summary: Mapped[str] = mapped_column(Text, nullable=False, default="")
    runbook_url: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    group_key: Mapped[str | None] = mapped_column(String(512), nullable=True)
    open_group_key: Mapped[str | None] = mapped_column(String(512), nullable=True, unique=True)
    created_at: Mapped[datetime] = created_column()
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    mitigated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # escalation state, advanced only under the escalation lock
    page_level: Mapped[int] = mapped_column(Integer, nullable=False, default=-1)
    last_paged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_update_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_update: Mapped[str] = mapped_column(Text, nullable=False, default="")
    last_reminder_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IncidentEvent(Base):
    """One entry of an incident's timeline."""

    __tablename__ = "incident_events"
    __table_args__ = (
        UniqueConstraint("incident_id", "dedup_key"),
        Index("ix_incident_events_incident_at", "incident_id", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    dedup_key: Mapped[str | None] = mapped_column(String(256), nullable=True)


class IncidentAlert(Base):
    """One Alertmanager alert (fingerprint + start) and the incident it belongs to."""

    __tablename__ = "incident_alerts"
    __table_args__ = (UniqueConstraint("fingerprint", "starts_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL"), nullable=True, index=True
    )
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    alertname: Mapped[str] = mapped_column(String(256), nullable=False, default="")
    group_key: Mapped[str] = mapped_column(String(512), nullable=False, default="")
    labels: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False, default=dict)
    annotations: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False, default=dict)
    received_at: Mapped[datetime] = created_column()


class PageRecord(Base):
    """One page sent (or attempted) through one channel."""

    __tablename__ = "incident_pages"
    __table_args__ = (Index("ix_incident_pages_incident", "incident_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False
    )
    at: Mapped[datetime] = created_column()
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    layer: Mapped[str | None] = mapped_column(String(32))
    member: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32), nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    error: Mapped[str | None] = mapped_column(String(512))


class ActionItem(Base):
    """A postmortem action item with its owner and due date."""

    __tablename__ = "incident_action_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False, index=True
    )
    description: Mapped[str] = mapped_column(Text, nullable=False)
    owner: Mapped[str] = mapped_column(String(128), nullable=False)
    due: Mapped[date | None] = mapped_column(Date, nullable=True)
    done: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = created_column()
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# ---- API shapes ----

# Something besides white space (a JSON Schema pattern matches anywhere). Not `\S`: JSON
# Schema's regular expressions (ECMA-262) count U+FEFF as white space and U+0085 as none,
# pydantic's engine the other way round, so a title of either alone was valid to one and not
# the other; both are named here, and both engines agree.
NOT_BLANK = r"[^\s\u0085\ufeff]"
MAX_TEXT = 10_000  # a note, a status message, an impact, a summary, an action item (API and CLI)

UtcDatetime = Annotated[datetime, AfterValidator(lambda value: aware(value))]


class EventRead(BaseModel):
    """One timeline event."""

    model_config = ConfigDict(from_attributes=True)

    at: UtcDatetime
    actor: str
    kind: str
    message: str
    detail: dict[str, Any] | None = None


class AlertRead(BaseModel):
    """One linked alert."""

    model_config = ConfigDict(from_attributes=True)

    fingerprint: str
    alertname: str
    status: str
    starts_at: UtcDatetime
    ends_at: UtcDatetime | None
    labels: dict[str, str]
    annotations: dict[str, str]


class ActionItemRead(BaseModel):
    """One action item."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    incident_id: int
    description: str
    owner: str
    due: date | None
    done: bool


class IncidentRead(BaseModel):
    """An incident without its timeline."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    severity: Severity
    status: Status
    commander: str | None
    participants: list[str]
    customer_facing: bool
    impact: str
    summary: str
    runbook_url: str | None
    group_key: str | None
    created_at: UtcDatetime
    acknowledged_at: UtcDatetime | None
    mitigated_at: UtcDatetime | None
    resolved_at: UtcDatetime | None
    last_update: str
    last_update_at: UtcDatetime | None


class IncidentDetail(IncidentRead):
    """An incident with its timeline, alerts and action items."""

    timeline: list[EventRead]
    alerts: list[AlertRead]
    action_items: list[ActionItemRead]


class IncidentCreate(RequestModel):
    """A manually declared incident."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(..., min_length=1, max_length=256, pattern=NOT_BLANK)
    severity: Severity
    summary: str = Field("", max_length=MAX_TEXT)
    runbook_url: str | None = Field(None, max_length=1024)
    customer_facing: StrictBool = False


Participant = Annotated[str, Field(min_length=1, max_length=128)]


class IncidentUpdate(RequestModel):
    """Fields of an incident a responder may change; a field left out stays as it is (null is
    refused: it changed nothing)."""

    model_config = ConfigDict(extra="forbid")

    # not nullable: the None defaults mark a field left out (only sent fields are validated)
    commander: str = Field(None, max_length=128)  # type: ignore[assignment]
    participants: list[Participant] = Field(None, max_length=50)  # type: ignore[arg-type]
    customer_facing: StrictBool = None  # type: ignore[assignment]
    impact: str = Field(None, max_length=MAX_TEXT)  # type: ignore[assignment]


class NoteCreate(RequestModel):
    """A note; `status_update` marks it as the customer-facing status update."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(..., min_length=1, max_length=MAX_TEXT, pattern=NOT_BLANK)
    status_update: StrictBool = False


class SeverityChange(RequestModel):
    """A new severity."""

    model_config = ConfigDict(extra="forbid")

    severity: Severity


class StatusChange(RequestModel):
    """A new status (resolved -> triggered reopens)."""

    model_config = ConfigDict(extra="forbid")

    status: Status
    message: str = Field("", max_length=MAX_TEXT)


class ActionItemCreate(RequestModel):
    """A new action item."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field(..., min_length=1, max_length=MAX_TEXT, pattern=NOT_BLANK)
    owner: str = Field(..., min_length=1, max_length=128, pattern=NOT_BLANK)
    due: IsoDate | None = None


class PublicIncident(BaseModel):
    """A customer-facing incident as a public status page shows it: no internal details."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    severity: Severity
    status: Status
    created_at: UtcDatetime
    last_update: str
    last_update_at: UtcDatetime | None
