"""`ragops db status|slow-queries|kill|pool reset`: database first aid (docs/cli.md).

They connect to PostgreSQL with their own connection (application_name `<name>-cli`, so
`kill` never takes them for the service's). Pool figures and pool resets go through the
running server's admin API (`--url`/`--api-key`, or the server on this data directory).
On SQLite they say what does not apply and exit 0 (`kill`: 1).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich import box
from rich.table import Table

from ragops.cli.remote import KeyOpt, UrlOpt, api_client, find_remote
from ragops.cli.runner import console, fail, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")
pool_app = typer.Typer(help="The service's connection pools.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
SQLITE = "SQLite: one file, no server"


def _on_engine(work: Callable[[AsyncEngine], Awaitable[T]]) -> T | None:
    """Run `work` on a PostgreSQL engine of its own; None on SQLite."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from ragops.db.engine import connect_args

    settings = load_settings()
    url = settings.resolved_database_url
    if not url.startswith("postgresql"):
        return None

    async def main() -> T:
        engine = create_async_engine(url, connect_args=connect_args(settings, url, "cli"))
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except OSError as exc:
        fail(f"cannot reach the database: {exc}")


def _pools(url: str | None, api_key: str | None) -> dict[str, Any] | None:
    remote = find_remote(url, api_key)
    if remote is None:
        return None
    with api_client(remote, None, ["admin"]) as api:
        data: dict[str, Any] = api.call("GET", "/v1/admin/db/pools").json()
        return data


def _table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> Table:
    table = Table(*columns, title=title, box=box.SIMPLE, title_justify="left")
    for row in rows:
        table.add_row(*("-" if row.get(c) is None else _cell(row.get(c)) for c in columns))
    return table


def _cell(value: Any) -> str:
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def status(as_json: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Connections by state and application, pool figures of the running instances,
    database size, longest transactions, lock waits, replication lag."""
    from ragops.db import firstaid

    report: dict[str, Any] | None = _on_engine(firstaid.status)
    pools = _pools(url, api_key)
    if report is None:
        settings = load_settings()
        path = settings.data_dir / "ragops.db"
        size = path.stat().st_size if path.exists() else 0
        report = {
            "backend": "sqlite",
            "database_bytes": size,
            "not_applicable": f"connections, transactions, lock waits, replication ({SQLITE})",
        }
    report["pools"] = pools
    if as_json:
        print(json.dumps(report, default=str))
        return
    console.print(f"database size: {report['database_bytes'] / 1e6:.1f} MB")
    if "not_applicable" in report:
        console.print(f"not applicable: {report['not_applicable']}")
    else:
        connections = report["connections"]
        console.print(_table("connections", connections, ["state", "application", "count"]))
        console.print(
            _table(
                "longest transactions",
                report["longest_transactions"],
                ["pid", "application", "state", "transaction_seconds", "query"],
            )
        )
        waits = report["lock_waits"]
        console.print(f"lock waits: {len(waits)}")
        if waits:
            columns = ["pid", "application", "blocked_by", "waiting_seconds"]
            console.print(_table("", waits, columns))
        standby = report["standby"]
        if report["replicas"]:
            console.print(
                _table("replicas", report["replicas"], ["replica", "state", "replay_lag_seconds"])
            )
        elif standby["standby"]:
            console.print(f"standby, replay lag {standby['lag_seconds']:.1f} s")
        else:
            console.print("replication: none (no replicas, not a standby)")
    if pools is None:
        console.print("pools: no running ragops server found (pass --url and --api-key)")
    else:
        columns = ["instance", "size", "checked_out", "idle", "overflow", "resets"]
        console.print(_table("pools", pools["instances"], columns))


def slow_queries(
    over: Annotated[str, typer.Option("--over", help="Threshold: 500ms, 5s, 2m.")] = "5s",
    as_json: JsonOpt = False,
) -> None:
    """Queries running longer than --over (pg_stat_activity; pg_stat_statements when
    installed): duration, state, wait event and the query text, truncated, values masked."""
    from ragops.db import firstaid

    seconds = _seconds(over)

    async def work(engine: AsyncEngine) -> dict[str, Any]:
        return await firstaid.slow_queries(engine, seconds)

    found = _on_engine(work)
    if found is None:
        console.print(f"not applicable on {SQLITE}: there are no server-side queries to list")
        return
    if as_json:
        print(json.dumps(found, default=str))
        return
    columns = ["pid", "application", "state", "query_seconds", "wait_event", "query"]
    console.print(_table(f"running longer than {over}", found["running"], columns))
    if found["statements"] is None:
        console.print("pg_stat_statements: not installed")
    else:
        statements = found["statements"]
        console.print(_table("pg_stat_statements", statements, ["calls", "mean_seconds", "query"]))


def _seconds(value: str) -> float:
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", value)
    if match is None:
        raise typer.BadParameter("a duration such as 500ms, 5s, 2m", param_hint="--over")
    number, unit = float(match.group(1)), match.group(2) or "s"
    return number * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def kill(
    pid: Annotated[int, typer.Argument(help="The session's process id (ragops db slow-queries).")],
    terminate: Annotated[
        bool, typer.Option("--terminate", help="End the session, not only its query.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Cancel a query (or end its session) only when it is safe: ragops' own session, not a
    migration, backup or replication one, older than RAGOPS_DB_KILL_MIN_AGE_SECONDS."""
    from ragops.auth.audit import record_event
    from ragops.db import Database, firstaid

    settings = load_settings()
    action = "terminate" if terminate else "cancel"

    async def inspect(engine: AsyncEngine) -> firstaid.Session | None:
        return await firstaid.find_session(engine, pid)

    if not settings.resolved_database_url.startswith("postgresql"):
        fail(f"not applicable on {SQLITE}: there is no server session to {action}")
    session = _on_engine(inspect)
    why = firstaid.refusal(
        session,
        own_app=settings.db_application_name,
        floor_seconds=settings.db_kill_min_age_seconds,
        terminate=terminate,
    )

    async def audit(outcome: str, detail: dict[str, Any]) -> None:
        db = Database(settings)
        try:
            await record_event(
                db=db,
                action=f"db.{action}",
                outcome=outcome,  # type: ignore[arg-type]
                target=str(pid),
                detail={"interface": "cli", **detail},
            )
        finally:
            await db.dispose()

    if why is not None:
        asyncio.run(audit("denied", {"reason": why}))
        fail(f"refusing to {action} pid {pid}: {why}")
    assert session is not None
    console.print(
        f"pid {pid}: {session.application}, {session.state}, {session.age_seconds:.1f} s: "
        f"{session.query}",
        markup=False,
    )
    if not yes and not typer.confirm(f"{action} it?"):
        fail("nothing done")

    async def act(engine: AsyncEngine) -> bool:
        return await firstaid.signal(engine, pid, terminate=terminate)

    done = bool(_on_engine(act))
    asyncio.run(audit("success" if done else "failure", {"query": session.query}))
    if not done:
        fail(f"PostgreSQL did not signal pid {pid} (it may have ended)")
    console.print(f"{'terminated' if terminate else 'cancelled'} pid {pid}")


@pool_app.command("reset")
def pool_reset(url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Every running instance replaces its connection pool; requests in flight finish."""
    remote = find_remote(url, api_key)
    if remote is None:
        fail(
            "no running ragops server found: pass --url and --api-key (a process's pool lives "
            "in that process)"
        )
    with api_client(remote, None, ["admin"]) as api:
        result = api.call("POST", "/v1/admin/db/pool/reset").json()
    how = "every instance (PostgreSQL NOTIFY)" if result["signal"] == "notify" else "this instance"
    console.print(f"pool reset sent to {how}", markup=False)
