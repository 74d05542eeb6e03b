"""The audit trail's hash chain and retention record.

`audit_events` gains `chain_seq` (unique), `prev_hash` and `row_hash` (see `ragops.auth.chain`);
`audit_chain` holds the chain's head (one row) and `audit_prunes` each retention run. Existing
rows are chained in id order by this migration (the append-only triggers are set aside for
the update and restored in the same transaction). The columns are nullable, so the previous
release, which does not know them, still inserts events (expand/contract); its rows show up
as unchained in `ragops audit-log verify`.

Downgrade drops the chain's columns and tables (the rows stay), but first appends one event,
`audit.chain.downgraded`, holding the chain's head and every retention record: a table the
previous release knows keeps them. Upgrading again restores the retention records from the
latest such event and chains the rows from the newest retention anchor on, in id order: rows
chained before the rollback get their sequence numbers and hashes back unchanged, rows the
previous release wrote meanwhile are chained after them, and the trail still verifies.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The chain's format as this revision writes it, copied from `ragops.auth.chain` rather than
# imported: a migration must run the same way for as long as it ships, and importing app code
# would tie it to whatever that module becomes later (Alembic's advice: migrations hold their
# own copies). The hashes are stored, so the format may never change anyway;
# tests/unit/test_migration_copies.py checks this copy still agrees with `ragops.auth.chain`.
GENESIS = "0" * 64
DOWNGRADED = "audit.chain.downgraded"


def _instant(value: datetime) -> str:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def content_of(row: Any) -> list[Any]:
    """The hashed content of an audit row (as `ragops.auth.chain.content_of`)."""
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
    """SHA-256 (hex) of the previous hash and a row's canonical JSON (as `ragops.auth.chain`)."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


APPEND_ONLY = "audit_events is append-only"
SQLITE_TRIGGERS = [
    f"""
    CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END
    """,
    f"""
    CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END
    """,
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS audit_events_no_delete",
    "DROP TRIGGER IF EXISTS audit_events_no_update",
]

events = sa.table(
    "audit_events",
    sa.column("id", sa.Integer()),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("tenant_id", sa.String()),
    sa.column("actor_key_id", sa.String()),
    sa.column("action", sa.String()),
    sa.column("target", sa.String()),
    sa.column("outcome", sa.String()),
    sa.column("client_address", sa.String()),
    sa.column("request_id", sa.String()),
    sa.column("detail", sa.JSON()),
    sa.column("chain_seq", sa.BigInteger()),
    sa.column("prev_hash", sa.String()),
    sa.column("row_hash", sa.String()),
)


prunes_table = sa.table(
    "audit_prunes",
    sa.column("id", sa.Integer()),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("through_seq", sa.BigInteger()),
    sa.column("last_hash", sa.String()),
    sa.column("rows", sa.Integer()),
    sa.column("export_sha256", sa.String()),
)
chain_table = sa.table(
    "audit_chain",
    sa.column("id", sa.Integer()),
    sa.column("seq", sa.BigInteger()),
    sa.column("last_hash", sa.String()),
)


class _Row:
    def __init__(self, mapping: dict[str, object]) -> None:
        self.__dict__.update(mapping)


def _chain_existing(bind: sa.Connection, seq: int, last: str) -> tuple[int, str]:
    rows = bind.execute(sa.select(events).order_by(events.c.id)).mappings().all()
    for mapping in rows:
        seq += 1
        row = _Row({**mapping, "chain_seq": seq})
        digest = row_hash(last, content_of(row))
        bind.execute(
            events.update()
            .where(events.c.id == mapping["id"])
            .values(chain_seq=seq, prev_hash=last, row_hash=digest)
        )
        last = digest
    return seq, last


def _restored_prunes(bind: sa.Connection) -> list[dict[str, object]]:
    """The retention records kept by the latest downgrade of this migration (none if never)."""
    detail = bind.execute(
        sa.select(events.c.detail)
        .where(events.c.action == DOWNGRADED)
        .order_by(events.c.id.desc())
        .limit(1)
    ).scalar()
    kept = detail.get("prunes", []) if isinstance(detail, dict) else []
    return [
        {**item, "at": datetime.fromisoformat(str(item["at"]))}
        for item in kept
        if isinstance(item, dict)
    ]


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    op.add_column("audit_events", sa.Column("chain_seq", sa.BigInteger(), nullable=True))
    op.add_column("audit_events", sa.Column("prev_hash", sa.String(length=64), nullable=True))
    op.add_column("audit_events", sa.Column("row_hash", sa.String(length=64), nullable=True))
    op.create_index("ux_audit_events_chain_seq", "audit_events", ["chain_seq"], unique=True)
    chain = op.create_table(
        "audit_chain",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain")),
    )
    op.create_table(
        "audit_prunes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("through_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("export_sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_prunes")),
    )
    if postgres:
        op.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change")
    else:
        for statement in SQLITE_DROP:
            op.execute(statement)
    prunes = _restored_prunes(bind)
    anchor = max(prunes, key=lambda item: int(str(item["through_seq"])), default=None)
    start = (int(str(anchor["through_seq"])), str(anchor["last_hash"])) if anchor else (0, GENESIS)
    seq, last = _chain_existing(bind, *start)
    if prunes:
        op.bulk_insert(prunes_table, prunes)
    if postgres:
        op.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_change")
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
    op.bulk_insert(chain, [{"id": 1, "seq": seq, "last_hash": last}])


def _keep_chain_state(bind: sa.Connection) -> None:
    """Append the event that keeps the chain's head and retention records (see above)."""
    head = bind.execute(sa.select(chain_table.c.seq, chain_table.c.last_hash)).first()
    prunes = bind.execute(sa.select(prunes_table).order_by(prunes_table.c.id)).mappings().all()
    detail = {
        "head_seq": head.seq if head else 0,
        "head_hash": head.last_hash if head else GENESIS,
        "prunes": [
            {**{k: v for k, v in row.items() if k != "id"}, "at": row["at"].isoformat()}
            for row in prunes
        ],
    }
    bind.execute(
        events.insert().values(
            at=datetime.now(UTC),
            action=DOWNGRADED,
            target="0006",
            outcome="success",
            detail=detail,
        )
    )


def downgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    _keep_chain_state(bind)
    op.drop_table("audit_prunes")
    op.drop_table("audit_chain")
    op.drop_index("ux_audit_events_chain_seq", table_name="audit_events")
    if postgres:
        op.drop_column("audit_events", "row_hash")
        op.drop_column("audit_events", "prev_hash")
        op.drop_column("audit_events", "chain_seq")
        return
    for statement in SQLITE_DROP:  # the batch copy of the table would lose them anyway
        op.execute(statement)
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("row_hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("chain_seq")
    for statement in SQLITE_TRIGGERS:
        op.execute(statement)
