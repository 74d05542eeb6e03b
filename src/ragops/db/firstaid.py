"""Database first aid on PostgreSQL (the spec's Database Issues runbook): what is connected,
what runs long, what waits on locks, and cancelling a query when that is safe.

Everything reads `pg_stat_activity` (and `pg_stat_statements` when the extension is
installed) of the current database. Query text is shown truncated with its literals masked
(`'?'`, `?`): values bound as parameters never appear in it, and values written into the
SQL text are hidden too.

`kill` acts only on a session that is safe to stop: it belongs to the service
(`application_name` = `RAGOPS_DB_APPLICATION_NAME`), is not a migration, backup or replication
session, is not this connection, and its query (or open transaction, when idle in one) is
older than `RAGOPS_DB_KILL_MIN_AGE_SECONDS`. Otherwise it refuses and says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

QUERY_CHARS = 160
BACKUP_APPS = ("pg_dump", "pg_dumpall", "pg_restore", "pg_basebackup")

_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w$.])-?\d+(?:\.\d+)?(?![\w.])")


class NotPostgres(Exception):
    """The command needs PostgreSQL."""


def mask_query(query: str | None, limit: int = QUERY_CHARS) -> str:
    """`query` on one line with string and number literals masked, cut to `limit` characters."""
    if not query:
        return ""
    masked = _NUMBER.sub("?", _STRING.sub("'?'", query))
    flat = " ".join(masked.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _require_postgres(engine: AsyncEngine) -> None:
    if engine.dialect.name != "postgresql":
        raise NotPostgres(engine.dialect.name)


async def _rows(engine: AsyncEngine, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(text(sql), params)
        return [dict(row) for row in result.mappings()]


ACTIVITY = """
SELECT pid, usename AS role, application_name AS application, state, backend_type,
       wait_event_type, wait_event, query,
       EXTRACT(EPOCH FROM now() - query_start)::float AS query_seconds,
       EXTRACT(EPOCH FROM now() - xact_start)::float AS transaction_seconds,
       EXTRACT(EPOCH FROM now() - state_change)::float AS state_seconds,
       pid = pg_backend_pid() AS own
FROM pg_stat_activity WHERE datname = current_database()
"""


async def status(engine: AsyncEngine) -> dict[str, Any]:
    """Connections by state and application, size, longest transactions, lock waits and
    replication lag of the current database."""
    _require_postgres(engine)
    connections = await _rows(
        engine,
        "SELECT coalesce(state, 'background') AS state, application_name AS application, "
        "count(*) AS count FROM pg_stat_activity WHERE datname = current_database() "
        "GROUP BY 1, 2 ORDER BY count(*) DESC, 1, 2",
    )
    size = (await _rows(engine, "SELECT pg_database_size(current_database()) AS bytes"))[0]
    longest = await _rows(
        engine,
        ACTIVITY + " AND xact_start IS NOT NULL AND pid <> pg_backend_pid() "
        "ORDER BY xact_start LIMIT 5",
    )
    waits = await _rows(
        engine,
        "SELECT w.pid, w.application_name AS application, pg_blocking_pids(w.pid) AS blocked_by,"
        " EXTRACT(EPOCH FROM now() - w.query_start)::float AS waiting_seconds, w.query "
        "FROM pg_stat_activity w WHERE w.datname = current_database() "
        "AND cardinality(pg_blocking_pids(w.pid)) > 0 ORDER BY w.query_start",
    )
    replicas = await _rows(
        engine,
        "SELECT application_name AS replica, state, "
        "EXTRACT(EPOCH FROM replay_lag)::float AS replay_lag_seconds, "
        "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS lag_bytes "
        "FROM pg_stat_replication",
    )
    standby = await _rows(
        engine,
        "SELECT pg_is_in_recovery() AS standby, CASE WHEN pg_is_in_recovery() THEN "
        "EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float END AS lag_seconds",
    )
    for row in [*longest, *waits]:
        row["query"] = mask_query(row.get("query"))
    return {
        "connections": connections,
        "database_bytes": int(size["bytes"]),
        "longest_transactions": longest,
        "lock_waits": waits,
        "replicas": replicas,
        "standby": standby[0],
    }


async def slow_queries(engine: AsyncEngine, over_seconds: float) -> dict[str, Any]:
    """Queries running longer than `over_seconds` (and, with pg_stat_statements, the
    statements whose mean time is over it)."""
    _require_postgres(engine)
    running = await _rows(
        engine,
        ACTIVITY + " AND state IS NOT NULL AND state <> 'idle' AND pid <> pg_backend_pid() "
        "AND now() - query_start > make_interval(secs => :over) ORDER BY query_start",
        over=over_seconds,
    )
    for row in running:
        row["query"] = mask_query(row["query"])
    statements: list[dict[str, Any]] | None = None
    installed = await _rows(
        engine, "SELECT 1 AS yes FROM pg_extension WHERE extname = 'pg_stat_statements'"
    )
    if installed:
        try:
            statements = await _rows(
                engine,
                "SELECT calls, mean_exec_time / 1000.0 AS mean_seconds, "
                "total_exec_time / 1000.0 AS total_seconds, query FROM pg_stat_statements "
                "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND mean_exec_time > :over_ms ORDER BY mean_exec_time DESC LIMIT 20",
                over_ms=over_seconds * 1000,
            )
        except Exception:  # not preloaded (shared_preload_libraries): report as missing
            statements = None
        for row in statements or []:
            row["query"] = mask_query(row["query"])
    return {"running": running, "statements": statements}


@dataclass(frozen=True)
class Session:
    """The session `kill` would act on."""

    pid: int
    application: str
    state: str | None
    backend_type: str
    age_seconds: float
    query: str


async def find_session(engine: AsyncEngine, pid: int) -> Session | None:
    """The session of `pid` in the current database, or None."""
    _require_postgres(engine)
    rows = await _rows(engine, ACTIVITY + " AND pid = :pid", pid=pid)
    if not rows:
        return None
    row = rows[0]
    if row["own"]:
        age = 0.0
    elif row["state"] == "active":
        age = row["query_seconds"] or 0.0
    else:  # idle in transaction: how long the transaction has been open
        age = row["transaction_seconds"] or row["state_seconds"] or 0.0
    return Session(
        pid=pid,
        application=row["application"] or "",
        state=row["state"],
        backend_type=row["backend_type"] or "",
        age_seconds=float(age),
        query=mask_query(row["query"]),
    )


def refusal(
    session: Session | None, *, own_app: str, floor_seconds: float, terminate: bool = False
) -> str | None:
    """Why killing `session` is not safe, or None when it is."""
    if session is None:
        return "no session with this pid in ragops' database"
    app = session.application
    if session.backend_type in ("walsender", "walreceiver") or app in ("walreceiver",):
        return "it is a replication session"
    if app == f"{own_app}-migrate":
        return "it is a migration session (stopping it could leave a half-migrated schema)"
    if app == f"{own_app}-backup" or app in BACKUP_APPS:
        return "it is a backup session"
    if session.backend_type != "client backend":
        return f"it is a PostgreSQL {session.backend_type} process, not a client session"
    if app != own_app:
        name = f"'{app}'" if app else "no application name"
        return f"it belongs to {name}, not to ragops ('{own_app}')"
    if session.state == "idle":
        return "it is idle: there is no query or transaction to stop"
    if not terminate and (session.state or "").startswith("idle in transaction"):
        return "it is idle in a transaction: cancelling does nothing; use --terminate"
    if session.age_seconds < floor_seconds:
        return (
            f"it has run for {session.age_seconds:.1f} s only, under the floor of "
            f"{floor_seconds:g} s (RAGOPS_DB_KILL_MIN_AGE_SECONDS)"
        )
    return None


async def signal(engine: AsyncEngine, pid: int, *, terminate: bool) -> bool:
    """Cancel the session's query (or terminate the session); True when signalled."""
    function = "pg_terminate_backend" if terminate else "pg_cancel_backend"
    rows = await _rows(engine, f"SELECT {function}(:pid) AS done", pid=pid)
    return bool(rows[0]["done"])
