"""Corpus versions for the answer cache, archive tables and indexes of frequent queries.

`corpus_versions` holds one counter per (tenant, collection), bumped in the transaction of
every ingest or delete that changes the collection and by every cache clear; cache keys name
it. Existing collections start at version 1.

`chat_sessions_archive`, `messages_archive` and `feedback_archive` receive what `ragops db
archive` moves. New indexes: sessions by `updated_at` (archiving picks the oldest) and
documents by tenant and `updated_at` (the document list, newest first).

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
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
    op.create_table(
        "chat_sessions_archive",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("collection", sa.String(length=63), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_sessions_archive")),
    )
    op.create_index(
        "ix_chat_sessions_archive_tenant", "chat_sessions_archive", ["tenant_id"], unique=False
    )
    op.create_table(
        "messages_archive",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=True),
        sa.Column("citations", sa.JSON(), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages_archive")),
    )
    op.create_index("ix_messages_archive_session", "messages_archive", ["session_id"], unique=False)
    op.create_table(
        "feedback_archive",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("rating", sa.String(length=8), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_archive")),
    )
    op.create_index("ix_chat_sessions_updated_at", "chat_sessions", ["updated_at"], unique=False)
    op.create_index(
        "ix_documents_tenant_updated", "documents", ["tenant_id", "updated_at"], unique=False
    )
    op.execute(
        "INSERT INTO corpus_versions (tenant_id, collection, version, updated_at) "
        "SELECT tenant_id, name, 1, CURRENT_TIMESTAMP FROM collections"
    )


def downgrade() -> None:
    op.drop_index("ix_documents_tenant_updated", table_name="documents")
    op.drop_index("ix_chat_sessions_updated_at", table_name="chat_sessions")
    op.drop_table("feedback_archive")
    op.drop_index("ix_messages_archive_session", table_name="messages_archive")
    op.drop_table("messages_archive")
    op.drop_index("ix_chat_sessions_archive_tenant", table_name="chat_sessions_archive")
    op.drop_table("chat_sessions_archive")
    op.drop_table("corpus_versions")
