"""Audit retention: export the oldest events to a file, then remove them; owner role only.

The audit table refuses UPDATE and DELETE (triggers), and on PostgreSQL with separate roles
the service's role has no DELETE privilege and cannot set the triggers aside (only the
table's owner may ALTER it). So retention connects with the owner's URL
(`RAGOPS_MIGRATION_DATABASE_URL`, default `RAGOPS_DATABASE_URL`) and, in one transaction,
sets the trigger aside, removes the exported rows, restores the trigger and records the run
in `audit_prunes` (last sequence number and hash removed, row count, SHA-256 of the export),
from where `verify` starts the chain. It refuses a chain that does not verify (an export must
not launder a tampered trail) and writes the export (flushed to disk) before it deletes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from ragops.auth.chain import verify
from ragops.auth.models import AuditEvent, AuditEventRead, AuditPrune
from ragops.config import Settings
from ragops.db import Database
from ragops.db.base import utcnow
from ragops.errors import ConflictError, ValidationFailed
from ragops.os_errors import os_reason

SQLITE_TRIGGERS = [
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
]


class NotOwner(ValidationFailed):
    """The connection's role may not remove audit rows."""


@dataclass(frozen=True)
class PruneResult:
    """What a retention run removed and where it exported it."""

    rows: int
    through_seq: int | None
    export: Path
    export_sha256: str


def _export_line(row: AuditEvent) -> str:
    data = AuditEventRead.model_validate(row).model_dump(mode="json")
    data.update(chain_seq=row.chain_seq, prev_hash=row.prev_hash, row_hash=row.row_hash)
    return json.dumps(data, sort_keys=True)


async def _set_aside(conn: AsyncConnection) -> None:
    if conn.dialect.name == "postgresql":
        await conn.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER USER")
    else:
        await conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_events_no_delete")
        await conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_events_no_update")


async def _restore(conn: AsyncConnection) -> None:
    if conn.dialect.name == "postgresql":
        await conn.exec_driver_sql("ALTER TABLE audit_events ENABLE TRIGGER USER")
    else:
        for statement in SQLITE_TRIGGERS:
            await conn.exec_driver_sql(statement)


async def prune(settings: Settings, *, before: datetime, export: Path) -> PruneResult:
    """Export the chained events older than `before` to `export` (JSON lines), then remove
    them. Raises ConflictError when the chain does not verify, NotOwner when the owner URL's
    role may not remove audit rows (nothing is removed then)."""
    if export.exists():
        raise ValidationFailed(f"{export} exists; name a new file for the export")
    owner = Database(settings.model_copy(update={"database_url": settings.owner_database_url}))
    try:
        checked = await verify(owner)
        if not checked.intact:
            raise ConflictError(
                "the audit chain does not verify; nothing removed: " + "; ".join(checked.problems)
            )
        async with owner.session() as session:
            through = (
                await session.execute(
                    select(AuditEvent.chain_seq)
                    .where(AuditEvent.chain_seq.is_not(None), AuditEvent.at < before)
                    .order_by(AuditEvent.chain_seq.desc())
                    .limit(1)
                )
            ).scalar()
            rows: list[AuditEvent] = []
            if through is not None:
                rows = list(
                    (
                        await session.execute(
                            select(AuditEvent)
                            .where(AuditEvent.chain_seq <= through)
                            .order_by(AuditEvent.chain_seq)
                        )
                    ).scalars()
                )
        digest = _write_export(export, rows)
        if not rows:
            return PruneResult(0, None, export, digest)
        await _remove(owner, rows, digest)
        return PruneResult(len(rows), rows[-1].chain_seq, export, digest)
    finally:
        await owner.dispose()


def _write_export(path: Path, rows: list[AuditEvent]) -> str:
    """Write the export whole or not at all; a path that cannot be written (a parent that is
    a file, no permission, a full disk) is a ValidationFailed naming it, nothing removed."""
    partial = path.with_name(path.name + ".partial")
    data = "".join(_export_line(row) + "\n" for row in rows).encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with partial.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        partial.rename(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise ValidationFailed(
            f"cannot write the export to {path}: {os_reason(exc)}; nothing removed"
        ) from exc
    return hashlib.sha256(data).hexdigest()


async def _remove(owner: Database, rows: list[AuditEvent], digest: str) -> None:
    last = rows[-1]
    params: dict[str, Any] = {"through": last.chain_seq}
    try:
        async with owner.engine.begin() as conn:
            await _set_aside(conn)
            result = await conn.execute(
                text("DELETE FROM audit_events WHERE chain_seq <= :through"), params
            )
            await _restore(conn)
            if result.rowcount != len(rows):
                raise ConflictError("the audit rows changed during the export; nothing removed")
            await conn.execute(
                insert(AuditPrune).values(
                    at=utcnow(),
                    through_seq=last.chain_seq,
                    last_hash=last.row_hash,
                    rows=len(rows),
                    export_sha256=digest,
                )
            )
    except DBAPIError as exc:
        if "must be owner" in str(exc) or "permission denied" in str(exc):
            raise NotOwner(
                "only the audit table's owner may remove audit rows: run this with "
                "RAGOPS_MIGRATION_DATABASE_URL set to the owner role's URL; nothing removed"
            ) from exc
        raise
