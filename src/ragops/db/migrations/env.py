"""Alembic environment: runs migrations on the connection `ragops.db.migrate` hands in.

No model is imported here: each migration script declares the tables it touches, so running
them needs no metadata, and `db/` stays below every domain. Revisions are written by hand
(there is no autogenerate); whether the migrated schema matches the models is checked by
tests/integration/test_migrations.py, which compares the two with Alembic's
`compare_metadata`.
"""

from __future__ import annotations

from alembic import context


def run_migrations() -> None:
    """Run on the provided connection (render_as_batch keeps SQLite ALTERs working)."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `ragops db upgrade`, not the alembic CLI")
    is_sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        render_as_batch=is_sqlite,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
