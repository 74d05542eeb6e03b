"""Tables and API shapes of API keys and the audit trail.

An API key row holds only the SHA-256 hash of the key, a short non-secret prefix for display,
the tenant, the scopes and the key's life: expiry, revocation, last use and, after a rotation,
its successor. `audit_events` is append-only (the migration adds triggers refusing UPDATE and
DELETE on both SQLite and PostgreSQL).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ragops.db.base import Base, created_column, utcnow
from ragops.schema import RequestModel, UtcDatetime
from ragops.schema import aware as aware  # re-exported: the key service uses it

Scope = Literal["chat", "ingest", "admin"]
ALL_SCOPES: tuple[Scope, ...] = ("chat", "ingest", "admin")
KeyStatus = Literal["active", "expired", "revoked"]
Outcome = Literal["success", "failure", "denied"]

TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DURATION_RE = re.compile(r"^\s*(\d{1,5})\s*([mhdw])\s*$")
# What the API accepts as a lifetime (the CLI is more lenient, see `parse_duration`).
DURATION_PATTERN = r"^[1-9][0-9]{0,4}[mhdw]$"
KEY_NAME_MAX = 128
"""Longest label of an API key (the column's size)."""
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class ApiKey(Base):
    """One API key: its hash (never the key), tenant, scopes and life."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_tenant_created", "tenant_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    tenant_id: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(KEY_NAME_MAX), nullable=False, default="")
    scopes: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = created_column()
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    replaced_by: Mapped[str | None] = mapped_column(String(16), nullable=True)


class AuditEvent(Base):
    """One security-relevant event. Rows are only ever inserted."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_tenant_at", "tenant_id", "at"),
        Index("ux_audit_events_chain_seq", "chain_seq", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    tenant_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    actor_key_id: Mapped[str | None] = mapped_column(String(16), nullable=True)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    target: Mapped[str | None] = mapped_column(String(256), nullable=True)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    client_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # the hash chain (migration 0007, `auth.chain`); null on rows of older releases
    chain_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    row_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AuditChain(Base):
    """The head of the audit hash chain: one row (id 1), its last sequence number and hash."""

    __tablename__ = "audit_chain"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_hash: Mapped[str] = mapped_column(String(64), nullable=False)


class AuditPrune(Base):
    """One retention run: rows up to `through_seq` were exported, then removed; the chain
    now starts after `last_hash` (the removed last row's hash)."""

    __tablename__ = "audit_prunes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    through_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    rows: Mapped[int] = mapped_column(Integer, nullable=False)
    export_sha256: Mapped[str] = mapped_column(String(64), nullable=False)


def validate_key_name(value: str) -> str:
    """Return `value` if it fits as a key's label, else raise ValueError (never cut)."""
    if len(value) > KEY_NAME_MAX:
        raise ValueError(
            f"a key's name is at most {KEY_NAME_MAX} characters, not {len(value)}; nothing created"
        )
    return value


def validate_tenant(value: str) -> str:
    """Return `value` if it is a valid tenant id, else raise ValueError."""
    if not TENANT_RE.fullmatch(value):
        raise ValueError(
            "tenant ids are 1-64 characters of letters, digits, '.', '-' and '_', "
            "starting with a letter or digit"
        )
    return value


def parse_duration(value: str) -> timedelta:
    """A lifetime such as "90d", "12h", "30m" or "2w"; ValueError for anything else."""
    match = DURATION_RE.fullmatch(value)
    if match is None or int(match.group(1)) == 0:
        raise ValueError(
            "a duration is a whole number from 1 to 99999 and a unit: m, h, d or w (e.g. 90d)"
        )
    amount, unit = int(match.group(1)), match.group(2)
    return timedelta(**{_UNITS[unit]: amount})


def parse_scopes(values: str | list[str] | tuple[str, ...]) -> tuple[Scope, ...]:
    """Scopes from "chat,ingest" or a list, deduplicated in canonical order."""
    items = values.split(",") if isinstance(values, str) else list(values)
    wanted = {item.strip().lower() for item in items if item.strip()}
    unknown = sorted(wanted - set(ALL_SCOPES))
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}; scopes are {', '.join(ALL_SCOPES)}")
    if not wanted:
        raise ValueError(f"name at least one scope of {', '.join(ALL_SCOPES)}")
    return tuple(scope for scope in ALL_SCOPES if scope in wanted)


# ---- API shapes ----


class ApiKeyRead(BaseModel):
    """An API key as the API and the CLI show it: never the key, only its prefix."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    prefix: str
    name: str
    tenant_id: str
    scopes: list[Scope]
    status: KeyStatus
    created_at: UtcDatetime
    expires_at: UtcDatetime | None
    revoked_at: UtcDatetime | None
    last_used_at: UtcDatetime | None
    replaced_by: str | None


class ApiKeyCreate(RequestModel):
    """A new key of the caller's tenant."""

    model_config = ConfigDict(extra="forbid")

    scopes: list[Scope] = Field(..., min_length=1, description="Any of chat, ingest, admin.")
    name: str = Field("", max_length=KEY_NAME_MAX, description="A label to recognise the key by.")
    expires: str | None = Field(
        None,
        pattern=DURATION_PATTERN,
        description="Lifetime such as 90d, 12h, 30m or 2w; none = no expiry.",
    )

    @field_validator("expires")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value


class ApiKeyRotate(RequestModel):
    """Options of a rotation: the successor's lifetime (default: the same as the old key's)."""

    model_config = ConfigDict(extra="forbid")

    expires: str | None = Field(
        None, pattern=DURATION_PATTERN, description="Lifetime of the new key, such as 90d."
    )

    @field_validator("expires")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value


class ApiKeyCreated(BaseModel):
    """A new key: `key` is shown this once and never again; only its hash is stored."""

    key: str
    api_key: ApiKeyRead
    previous: ApiKeyRead | None = None


class AuditEventRead(BaseModel):
    """One audit event as the API and `ragops audit-log --json` show it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: UtcDatetime
    tenant_id: str | None
    actor_key_id: str | None
    action: str
    target: str | None
    outcome: str
    client_address: str | None
    request_id: str | None
    detail: dict[str, Any] | None
