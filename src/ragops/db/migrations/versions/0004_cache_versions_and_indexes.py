"""Corpus versions for the answer cache.

`corpus_versions` holds one counter per (tenant, collection), bumped in the transaction of
every ingest or delete that changes the collection and by every cache clear; cache keys name
it. Existing collections start at version 1.

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "corpus_versions",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("collection", sa.String(length=63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "collection", name=op.f("pk_corpus_versions")),
    )
    op.execute(
        "INSERT INTO corpus_versions (tenant_id, collection, version, updated_at) "
        "SELECT tenant_id, name, 1, CURRENT_TIMESTAMP FROM collections"
    )


def downgrade() -> None:
    op.drop_table("corpus_versions")
