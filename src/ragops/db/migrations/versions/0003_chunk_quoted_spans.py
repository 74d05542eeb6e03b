"""Chunk structure: the offsets of each chunk's code blocks and block quotes.

`chunks.quoted` holds the (start, end) offsets into the chunk text of its quoted examples
(code blocks, block quotes), as JSON. The extractive answerer leaves code out of answers and
needs it for chunks it reads from the database (action sections of procedure questions);
chunks ingested before this revision have NULL (no structure known).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chunks") as batch:
        batch.add_column(sa.Column("quoted", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chunks") as batch:
        batch.drop_column("quoted")
