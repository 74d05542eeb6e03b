"""A bounded lock wait for restores over a PostgreSQL database that other sessions use.

`pg_restore --clean --single-transaction` drops and recreates every table, so it needs an
exclusive lock on each; a session of another instance holding a table (a transaction left
open, a long query) would make it wait forever, and every later query of the service would
queue behind it. PostgreSQL's `lock_timeout` cannot bound it: the dump's own preamble sets
`lock_timeout = 0`. So a watcher, on a connection of its own, follows the restore's session
(found by its `application_name`): once one of its statements has waited on a lock for the
timeout, the watcher notes the sessions blocking it (`pg_blocking_pids`) and cancels the
statement. The restore's transaction rolls back, nothing changed, and `RestoreLockTimeout`
names the blocking sessions and what to do.

The migration forward after a restore is watched the same way (`migrate_forward.migrate_in_place`,
with an error of its own): an instance migrating holds the migration lock, one with a
transaction open holds the tables it read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import URL

from ragops.backup.database import DatabaseBackupError, asyncpg_dsn

POLL_SECONDS = 0.5

WAITING_SQL = """
SELECT pid, pg_blocking_pids(pid) AS blockers FROM pg_stat_activity
WHERE application_name = $1 AND datname = current_database() AND wait_event_type = 'Lock'
  AND now() - query_start > make_interval(secs => $2)
"""

HOLDERS_SQL = """
SELECT a.pid, a.application_name AS application, a.usename AS role,
       coalesce(host(a.client_addr), 'local socket') AS client, a.state,
       EXTRACT(EPOCH FROM now() - coalesce(a.xact_start, a.query_start))::float AS seconds,
       array_agg(DISTINCT c.relname) FILTER (WHERE c.relname IS NOT NULL) AS tables
FROM pg_stat_activity a
LEFT JOIN pg_locks l ON l.pid = a.pid AND l.granted AND l.locktype = 'relation'
LEFT JOIN pg_class c ON c.oid = l.relation AND c.relkind IN ('r', 'p')
  AND c.relnamespace <> 'pg_catalog'::regnamespace
WHERE a.pid = ANY($1::int[])
GROUP BY a.pid, a.application_name, a.usename, a.client_addr, a.state, a.xact_start,
         a.query_start
ORDER BY a.pid
"""


class RestoreLockTimeout(DatabaseBackupError):
    """The restore waited longer than its lock timeout for a table another session holds."""


def describe_holder(row: Any) -> str:
    """One blocking session in words: pid, application, role, client, state, tables."""
    tables = ", ".join(sorted(row["tables"] or [])) or "none of the tables"
    return (
        f"pid {row['pid']} (application {row['application'] or 'unnamed'}, role {row['role']}, "
        f"{row['client']}, {row['state'] or 'background'} for {row['seconds'] or 0:.0f} s; "
        f"holds {tables})"
    )


def lock_timeout_error(database: str, seconds: float, holders: list[str]) -> RestoreLockTimeout:
    """The error of a restore that gave up on a lock: who held the tables, what to do."""
    who = "; ".join(holders) or "sessions that have ended since"
    return RestoreLockTimeout(
        f"the restore waited more than {seconds:g} s for a lock on a table of database "
        f"{database} and gave up; nothing was changed. Other sessions use that database: "
        f"{who}. Stop every ragops instance using it (scale the service to zero, `ragops stack "
        "down`, stop `ragops serve` on every host), or end those sessions (`ragops db status`, "
        "`ragops db kill PID`), then run the restore again; --lock-timeout SECONDS waits longer"
    )


async def _cancel_if_stuck(
    watcher: asyncpg.Connection, application: str, seconds: float
) -> list[str] | None:
    """If a statement of `application` has waited on a lock for `seconds`: the sessions
    blocking it, in words, after cancelling the statement; else None."""
    waiting = await watcher.fetch(WAITING_SQL, application, float(seconds))
    if not waiting:
        return None
    blockers = sorted({pid for row in waiting for pid in row["blockers"]})
    holders = [describe_holder(r) for r in await watcher.fetch(HOLDERS_SQL, blockers)]
    for row in waiting:
        await watcher.execute("SELECT pg_cancel_backend($1)", row["pid"])
    return holders


TimeoutError_ = Callable[[str, float, list[str]], RestoreLockTimeout]
"""Builds the error of a watched step that gave up: (database, seconds, holders in words)."""


async def run_watched(
    url: URL,
    application: str,
    work: Awaitable[None],
    seconds: float,
    error: TimeoutError_ = lock_timeout_error,
) -> None:
    """Await `work`, the restore (or migration) whose session is named `application`; once
    one of its statements has waited on a lock for `seconds`, cancel it and raise `error`'s
    `RestoreLockTimeout` (`work` must raise `DatabaseBackupError` when cancelled). A watcher
    that loses its own connection stops watching and lets the work finish."""
    watcher = await asyncpg.connect(asyncpg_dsn(url))
    task = asyncio.ensure_future(work)
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=POLL_SECONDS)
            if task.done():
                break
            try:
                holders = await _cancel_if_stuck(watcher, application, seconds)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                break
            if holders is None:
                continue
            try:
                await task
            except DatabaseBackupError as exc:  # cancelled: its transaction rolled back
                raise error(url.database or "", seconds, holders) from exc
            return  # the lock came just in time and the restore finished
        await task
    finally:
        await watcher.close()
