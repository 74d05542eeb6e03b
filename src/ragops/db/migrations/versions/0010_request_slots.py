"""The service's own request log (`observability.request_log`): per 10-second slot and
process instance, requests, server errors and a latency histogram, so that a postmortem
written without Prometheus still states the incident window's error rate and p95.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "request_slots",
        sa.Column("slot", sa.BigInteger(), nullable=False),
        sa.Column("instance", sa.String(length=96), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("buckets", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("slot", "instance", name=op.f("pk_request_slots")),
    )


def downgrade() -> None:
    op.drop_table("request_slots")
