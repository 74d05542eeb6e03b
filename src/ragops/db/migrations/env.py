"""Alembic environment: runs migrations on the connection `ragops.db.migrate` hands in."""

from __future__ import annotations

from alembic import context

import ragops.models  # noqa: F401  (registers every table on Base.metadata)
from ragops.db.base import Base

target_metadata = Base.metadata


def run_migrations() -> None:
    """Run on the provided connection (render_as_batch keeps SQLite ALTERs working)."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `ragops db upgrade`, not the alembic CLI")
    is_sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=is_sqlite,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
