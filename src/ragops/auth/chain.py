"""The hash chain over the audit trail: a changed, deleted or reordered row is detectable.

Each `audit_events` row gets a sequence number (`chain_seq`), the hash of the row before it
(`prev_hash`) and its own hash (`row_hash` = SHA-256 of the previous hash and the row's
canonical content, sequence number included). The chain's head (last sequence number and
hash) is the one row of `audit_chain`.

Appending is safe across instances: before it inserts events, a flush first updates the head
row (a row lock on PostgreSQL, the write lock on SQLite), so concurrent writers take turns
and the head moves in the same transaction as the rows. This runs for every flush that adds
`AuditEvent`s (a `before_flush` hook), so `record_event` and the key changes that add their
event to their own transaction are both chained.

`verify` walks the rows in sequence order and reports every break: a row whose content does
not hash to its `row_hash` (altered), a gap in the sequence or a `prev_hash` that is not the
hash before it (deleted or reordered rows), a head beyond the last row (rows cut off the
end). Rows without a sequence number were written by a release older than migration 0007.
Retention (`ragops audit-log prune`) removes the oldest rows and records where the chain
now starts (`audit_prunes`), so the rest still verifies.

A rollback below migration 0007 drops the chain's columns; the downgrade first appends an
`audit.chain.downgraded` event holding the chain's head, and the upgrade afterwards chains
the rows again from the retention anchor, which gives unchanged rows their old hashes back.
`verify` checks each such head against the row now at that sequence number: a row changed or
deleted while the previous release ran (without the chain) shows there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, select, text, update
from sqlalchemy.orm import Session

from ragops.auth.models import AuditChain, AuditEvent, AuditPrune

GENESIS = "0" * 64
"""The `prev_hash` of the first row ever."""

DOWNGRADED = "audit.chain.downgraded"
"""The action of the event a downgrade below migration 0007 appends (the chain's head)."""


def _instant(value: datetime) -> str:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def content_of(row: Any) -> list[Any]:
    """The hashed content of an audit row (an `AuditEvent` or a row with the same fields)."""
    return [
        row.chain_seq,
        _instant(row.at),
        row.tenant_id,
        row.actor_key_id,
        row.action,
        row.target,
        row.outcome,
        row.client_address,
        row.request_id,
        row.detail,
    ]


def row_hash(prev_hash: str, content: list[Any]) -> str:
    """SHA-256 (hex) of the previous hash and the canonical JSON of a row's content."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def _chain_new_events(session: Session, _context: Any, _instances: Any) -> None:
    events = [obj for obj in session.new if isinstance(obj, AuditEvent) and obj.chain_seq is None]
    if not events:
        return
    # Lock the head first: a write on SQLite, a row lock on PostgreSQL (writers take turns).
    locked = session.execute(
        update(AuditChain).where(AuditChain.id == 1).values(seq=AuditChain.seq)
    )
    if getattr(locked, "rowcount", 0) != 1:
        session.execute(
            text("INSERT INTO audit_chain (id, seq, last_hash) VALUES (1, 0, :genesis)"),
            {"genesis": GENESIS},
        )
    seq, last = session.execute(
        select(AuditChain.seq, AuditChain.last_hash).where(AuditChain.id == 1)
    ).one()
    for item in events:
        if item.at is None:
            item.at = datetime.now(UTC)
        seq += 1
        item.chain_seq = seq
        item.prev_hash = last
        item.row_hash = last = row_hash(last, content_of(item))
    session.execute(update(AuditChain).where(AuditChain.id == 1).values(seq=seq, last_hash=last))


event.listen(Session, "before_flush", _chain_new_events)


@dataclass
class Verification:
    """What `verify` found."""

    rows: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    unchained: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        """True when no break was found."""
        return not self.problems


def walk(
    rows: Iterable[Any], *, start_seq: int, start_hash: str, head_seq: int | None
) -> Verification:
    """Check rows given in `chain_seq` order against the chain starting after `start_seq`."""
    result = Verification()
    expected_seq, expected_prev = start_seq + 1, start_hash
    for row in rows:
        result.rows += 1
        seq = row.chain_seq
        if result.first_seq is None:
            result.first_seq = seq
        result.last_seq = seq
        if seq != expected_seq:
            missing = seq - expected_seq
            what = f"{missing} row(s) missing" if missing > 0 else "rows out of order"
            result.problems.append(f"{what} before sequence {seq} (expected {expected_seq})")
        if row.prev_hash != expected_prev:
            result.problems.append(
                f"row {row.id} (sequence {seq}): the hash before it does not match "
                "(a row before it was deleted, changed or moved)"
            )
        if row_hash(row.prev_hash, content_of(row)) != row.row_hash:
            result.problems.append(f"row {row.id} (sequence {seq}): its content was changed")
        expected_seq, expected_prev = seq + 1, row.row_hash
    last = expected_seq - 1
    if head_seq is not None and head_seq > last:
        result.problems.append(
            f"{head_seq - last} row(s) missing after sequence {last} (the chain's head is at "
            f"{head_seq})"
        )
    return result


async def verify(db: Any, batch: int = 5000) -> Verification:
    """Verify the whole chain in the database `db` (a `ragops.db.Database`)."""
    async with db.session() as session:
        anchor = (
            (await session.execute(select(AuditPrune).order_by(AuditPrune.through_seq.desc())))
            .scalars()
            .first()
        )
        head = (await session.execute(select(AuditChain.seq).where(AuditChain.id == 1))).scalar()
        unchained = (
            await session.execute(
                select(AuditEvent.id).where(AuditEvent.chain_seq.is_(None)).limit(100_000)
            )
        ).all()
        start_seq = anchor.through_seq if anchor else 0
        start_hash = anchor.last_hash if anchor else GENESIS

        async def rows() -> list[Sequence[Any]]:
            pages: list[Sequence[Any]] = []
            after = -1
            while True:
                page = (
                    (
                        await session.execute(
                            select(AuditEvent)
                            .where(AuditEvent.chain_seq.is_not(None), AuditEvent.chain_seq > after)
                            .order_by(AuditEvent.chain_seq)
                            .limit(batch)
                        )
                    )
                    .scalars()
                    .all()
                )
                if not page:
                    return pages
                pages.append(page)
                after = page[-1].chain_seq or after
                session.expunge_all()

        pages = await rows()
    result = walk(
        (row for page in pages for row in page),
        start_seq=start_seq,
        start_hash=start_hash,
        head_seq=head,
    )
    result.unchained = len(unchained)
    result.problems += await _rollback_heads(db, start_seq)
    return result


async def _rollback_heads(db: Any, start_seq: int) -> list[str]:
    """Every chain head kept by a downgrade that the row now at its sequence number does not
    match (rows pruned since are not checked)."""
    problems: list[str] = []
    async with db.session() as session:
        kept = (
            (await session.execute(select(AuditEvent).where(AuditEvent.action == DOWNGRADED)))
            .scalars()
            .all()
        )
        for event_row in kept:
            detail = event_row.detail or {}
            seq, digest = detail.get("head_seq"), detail.get("head_hash")
            if not isinstance(seq, int) or seq <= start_seq:
                continue
            now = (
                await session.execute(
                    select(AuditEvent.row_hash).where(AuditEvent.chain_seq == seq)
                )
            ).scalar()
            if now != digest:
                problems.append(
                    f"row at sequence {seq} differs from the chain's head kept by the rollback "
                    f"of {_instant(event_row.at)} (rows before it were changed or deleted while "
                    "the previous release ran)"
                )
    return problems
