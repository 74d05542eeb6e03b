"""Run Alembic migrations programmatically: the CLI, start-up and tests all call these.

The migration scripts live in `ragops/db/migrations/`; they run unchanged on SQLite and
PostgreSQL. Each call opens its own connection from the settings' database URL and, on
PostgreSQL, runs under an advisory lock: instances starting together against one database
migrate one after the other, and all but the first find the schema already at the head.

With `RAGOPS_MIGRATION_DATABASE_URL` (PostgreSQL) the migrations run as that owner role, and
after each upgrade the role of `RAGOPS_DATABASE_URL` is granted what the service needs and no
more (`grant_runtime`): it reads and writes the tables, but may only read and append the
audit trail, only read the retention record and the revision, and cannot alter any table
(so it cannot set the append-only triggers aside).

Alembic's own INFO lines ("Context impl ...", "Running upgrade ...") are silenced: every CLI
command migrates before it runs, and those lines drowned its output. A migration that changes
the revision logs one line of ours instead.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from ragops.config import Settings
from ragops.db.engine import connect_args
from ragops.db.locks import MIGRATION_LOCK, lock_transaction

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

logger = logging.getLogger(__name__)
logging.getLogger("alembic").setLevel(logging.WARNING)


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at the packaged migration scripts."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


READ_ONLY = ("alembic_version", "audit_prunes")
APPEND_ONLY = ("audit_events",)


def runtime_role(settings: Settings) -> str | None:
    """The service's role when it differs from the migrations' owner role (PostgreSQL)."""
    runtime = make_url(settings.resolved_database_url)
    owner = make_url(settings.owner_database_url)
    if runtime.get_backend_name() != "postgresql" or runtime.username == owner.username:
        return None
    return runtime.username


def grant_runtime(sync_connection: Any, role: str) -> None:
    """Grant `role` the service's privileges on every table of the current schema (the
    tables that exist at its revision: after a downgrade below 0007 there is no
    `audit_prunes`)."""
    quoted = sync_connection.dialect.identifier_preparer.quote(role)
    present = set(inspect(sync_connection).get_table_names())
    append_only = [name for name in APPEND_ONLY if name in present]
    read_only = [name for name in READ_ONLY if name in present]  # none of 0007's below it
    statements = [
        f"GRANT USAGE ON SCHEMA public TO {quoted}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}",
    ]
    if append_only:
        statements.append(
            f"REVOKE UPDATE, DELETE, TRUNCATE ON {', '.join(append_only)} FROM {quoted}"
        )
    if read_only:
        statements.append(
            f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {', '.join(read_only)} FROM {quoted}"
        )
    for statement in statements:
        sync_connection.exec_driver_sql(statement)


def _connect_args(
    settings: Settings, url: str, lock_timeout: float | None, application: str | None
) -> dict[str, Any]:
    """The migration connection's arguments: its application_name (PostgreSQL), and with
    `lock_timeout` the longest one statement waits for a lock (PostgreSQL `lock_timeout`,
    SQLite's busy timeout)."""
    args = connect_args(settings, url, "migrate")
    if make_url(url).get_backend_name() == "sqlite":
        return {"timeout": lock_timeout} if lock_timeout is not None else args
    server = dict(args.get("server_settings", {}))
    if application is not None:
        server["application_name"] = application
    if lock_timeout is not None:
        server["lock_timeout"] = f"{max(int(lock_timeout * 1000), 1)}ms"
    return {**args, "server_settings": server}


async def _run(
    settings: Settings,
    action: str,
    revision: str,
    lock_timeout: float | None = None,
    application: str | None = None,
) -> None:
    url = settings.owner_database_url
    role = runtime_role(settings)
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    config = alembic_config(url)
    engine = create_async_engine(
        url, connect_args=_connect_args(settings, url, lock_timeout, application)
    )
    try:
        async with engine.begin() as connection:
            await lock_transaction(connection, MIGRATION_LOCK)

            def run(sync_connection: Any) -> tuple[str | None, str | None]:
                def current() -> str | None:
                    return MigrationContext.configure(sync_connection).get_current_revision()

                before = current()
                config.attributes["connection"] = sync_connection
                getattr(command, action)(config, revision)
                if role is not None and current() is not None:
                    grant_runtime(sync_connection, role)
                return before, current()

            before, after = await connection.run_sync(run)
    finally:
        await engine.dispose()
    if before != after:
        logger.info("database migrated from %s to %s", before or "empty", after or "base")


async def upgrade(
    settings: Settings,
    revision: str = "head",
    *,
    lock_timeout: float | None = None,
    application: str | None = None,
) -> None:
    """Migrate the database up to `revision`. With `lock_timeout`, no statement waits longer
    than that many seconds for a lock (the migration lock or a table another session holds):
    it fails, and the migration's one transaction rolls back (PostgreSQL). `application`
    names the session on PostgreSQL (default `<RAGOPS_DB_APPLICATION_NAME>-migrate`)."""
    await _run(settings, "upgrade", revision, lock_timeout, application)


async def downgrade(settings: Settings, revision: str) -> None:
    """Migrate the database down to `revision` ("base" removes every table)."""
    await _run(settings, "downgrade", revision)


async def current_revision(settings: Settings) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        return None
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:

            def read(sync_connection: Any) -> str | None:
                return MigrationContext.configure(sync_connection).get_current_revision()

            return await connection.run_sync(read)
    finally:
        await engine.dispose()


def head_revision() -> str | None:
    """The newest revision shipped with this version of ragops."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return script.get_current_head()
