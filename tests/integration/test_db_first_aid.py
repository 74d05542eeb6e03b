"""Database first aid against the machine's PostgreSQL: slow queries (`pg_sleep`), idle-in-
transaction sessions and lock waits are listed; `ragops db kill` cancels a long query of the
service and refuses every unsafe session, saying why; pools reset without dropping a query
in flight, on every instance. On SQLite the commands say what does not apply."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from ragops.auth.audit import list_events
from ragops.db import Database, firstaid, migrate
from ragops.db.signals import PoolSignals
from tests.conftest import make_settings, run_cli, run_sync


def _dsn(pg_url: str) -> str:
    return make_url(pg_url).set(drivername="postgresql").render_as_string(False)


class Sessions:
    """Raw connections posing as the service, a migration and a stranger."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conns: list[Any] = []
        self.tasks: list[asyncio.Task[Any]] = []

    async def open(self, app: str) -> Any:
        conn = await asyncpg.connect(self.dsn, server_settings={"application_name": app})
        self.conns.append(conn)
        return conn

    async def sleeping(self, app: str, seconds: float = 900) -> tuple[int, asyncio.Task[Any]]:
        conn = await self.open(app)
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        task = asyncio.create_task(conn.execute(f"SELECT pg_sleep({seconds})"))
        self.tasks.append(task)
        return pid, task

    async def close(self) -> None:
        for conn in self.conns:
            conn.terminate()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@pytest.fixture
async def sessions(pg_url: str) -> AsyncIterator[Sessions]:
    opened = Sessions(_dsn(pg_url))
    try:
        yield opened
    finally:
        await opened.close()


def _cli(data_dir: Path, pg_url: str, *args: str, **env: str) -> Any:
    return run_cli(data_dir, "db", *args, check=False, env={"RAGOPS_DATABASE_URL": pg_url, **env})


async def test_first_aid_lists_and_kills_only_what_is_safe(
    pg_url: str, sessions: Sessions, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path / "var", database_url=pg_url)
    await migrate.upgrade(settings)
    service_pid, service_query = await sessions.sleeping("ragops")
    stranger_pid, _ = await sessions.sleeping("psql-operator")
    migration_pid, _ = await sessions.sleeping("ragops-migrate")
    idle = await sessions.open("ragops")
    idle_pid = await idle.fetchval("SELECT pg_backend_pid()")
    await idle.execute("BEGIN; LOCK TABLE collections IN ACCESS EXCLUSIVE MODE")
    waiter = await sessions.open("ragops")
    waiter_pid = await waiter.fetchval("SELECT pg_backend_pid()")
    sessions.tasks.append(asyncio.create_task(waiter.execute("SELECT count(*) FROM collections")))
    await asyncio.sleep(1.5)

    # slow queries: the sleepers, the waiter and the open transaction, values masked
    found = json.loads(_cli(tmp_path, pg_url, "slow-queries", "--over", "1s", "--json").stdout)
    running = {row["pid"]: row for row in found["running"]}
    assert {service_pid, stranger_pid, migration_pid, waiter_pid} <= set(running)
    assert running[service_pid]["query"] == "SELECT pg_sleep(?)"
    assert running[service_pid]["state"] == "active" and running[service_pid]["query_seconds"] > 1
    assert running[waiter_pid]["wait_event_type"] == "Lock"
    assert running[idle_pid]["state"] == "idle in transaction"  # holds its locks meanwhile
    text_out = _cli(tmp_path, pg_url, "slow-queries", "--over", "1s").stdout
    assert "pg_sleep(?)" in text_out and "pg_stat_statements" in text_out

    # status: connections by state and application, the open transaction, the lock wait
    status = json.loads(_cli(tmp_path, pg_url, "status", "--json").stdout)
    by = {(c["state"], c["application"]): c["count"] for c in status["connections"]}
    assert by[("active", "ragops")] >= 2 and by[("idle in transaction", "ragops")] == 1
    assert status["database_bytes"] > 1_000_000
    assert idle_pid in {t["pid"] for t in status["longest_transactions"]}
    waits = {w["pid"]: w for w in status["lock_waits"]}
    assert waits[waiter_pid]["blocked_by"] == [idle_pid]
    assert status["replicas"] == [] and status["standby"]["standby"] is False
    assert status["pools"] is None  # no server runs here

    # unsafe sessions are refused, with the reason
    for pid, args, env, reason in [
        (stranger_pid, (), {}, "belongs to 'psql-operator', not to ragops"),
        (migration_pid, ("--terminate",), {}, "it is a migration session"),
        (service_pid, (), {"RAGOPS_DB_KILL_MIN_AGE_SECONDS": "600"}, "under the floor of 600 s"),
        (idle_pid, (), {}, "idle in a transaction: cancelling does nothing; use --terminate"),
        (999_999, (), {}, "no session with this pid"),
    ]:
        refused = _cli(tmp_path, pg_url, "kill", str(pid), "--yes", *args, **env)
        assert refused.returncode == 1 and reason in refused.stderr, refused.stderr
    assert not service_query.done()
    # Past the floor from here on (a 1 s floor: the sessions are older than that).
    floor = {"RAGOPS_DB_KILL_MIN_AGE_SECONDS": "1"}
    unconfirmed = _cli(tmp_path, pg_url, "kill", str(service_pid), **floor)  # no --yes, no "y"
    assert unconfirmed.returncode == 1 and not service_query.done()

    # the service's long query is cancelled; the idle transaction is ended
    cancelled = _cli(tmp_path, pg_url, "kill", str(service_pid), "--yes", **floor)
    assert cancelled.returncode == 0, cancelled.stderr
    with pytest.raises(asyncpg.QueryCanceledError):
        await asyncio.wait_for(service_query, 10)
    ended = _cli(tmp_path, pg_url, "kill", str(idle_pid), "--terminate", "--yes", **floor)
    assert ended.returncode == 0, ended.stderr
    await asyncio.sleep(0.5)
    assert idle.is_closed() or await _gone(pg_url, idle_pid)

    db = Database(settings)
    try:
        events = await list_events(db=db, action="db.cancel")
        outcomes = [(e.target, e.outcome) for e in events]
        assert (str(stranger_pid), "denied") in outcomes and (
            str(service_pid),
            "success",
        ) in outcomes
    finally:
        await db.dispose()


async def _gone(pg_url: str, pid: int) -> bool:
    conn = await asyncpg.connect(_dsn(pg_url))
    try:
        return not await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid)
    finally:
        await conn.close()


def test_masking_hides_literals() -> None:
    query = "SELECT * FROM t WHERE name = 'O''Brien' AND n > 42 AND x = $1\n  LIMIT 5"
    assert (
        firstaid.mask_query(query)
        == "SELECT * FROM t WHERE name = '?' AND n > ? AND x = $1 LIMIT ?"
    )
    assert (
        firstaid.mask_query("x" * 500).endswith("…") and len(firstaid.mask_query("x" * 500)) == 160
    )


async def test_pool_reset_keeps_queries_in_flight_and_reaches_every_instance(
    pg_url: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path / "var", database_url=pg_url)
    first, second = Database(settings), Database(settings)
    a, b = PoolSignals(first), PoolSignals(second)
    await a.start()
    await b.start()
    try:
        async with first.session() as session:
            before = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()

        async def slow() -> float:
            async with first.session() as session:
                return float(
                    (await session.execute(text("SELECT 7 FROM pg_sleep(1.5)"))).scalar_one()
                )

        in_flight = asyncio.create_task(slow())
        await asyncio.sleep(0.4)
        assert await a.reset_all() == "notify"
        assert await asyncio.wait_for(in_flight, 10) == 7.0  # not dropped
        for _ in range(50):
            if a.resets and b.resets:
                break
            await asyncio.sleep(0.1)
        assert (a.resets, b.resets) == (1, 1)
        async with first.session() as session:
            after = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert after != before  # a fresh connection
        figures = await a.ask()
        assert {f["instance"] for f in figures} == {a.instance, b.instance}
        assert all(f["resets"] == 1 for f in figures)
    finally:
        await a.aclose()
        await b.aclose()
        await first.dispose()
        await second.dispose()


async def _connections_of(pg_url: str, application: str, expected: int) -> int:
    """The connections PostgreSQL has open for `application`, once they number `expected` (a
    closed connection's backend leaves pg_stat_activity a moment later) or after 5 s."""
    conn = await asyncpg.connect(_dsn(pg_url))
    try:
        for _ in range(50):
            count = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", application
            )
            if count == expected:
                break
            await asyncio.sleep(0.1)
        return int(count)
    finally:
        await conn.close()


async def test_pool_reset_closes_each_old_connection_when_it_is_returned(
    pg_url: str, tmp_path: Path
) -> None:
    """Idle connections close at the reset; one in use keeps working, and closes as soon as it
    is returned, not when the old pool happens to be garbage collected (here it never is: the
    test keeps a reference to it). The new pool keeps its connections as usual."""
    application = f"ragops-reset-{uuid.uuid4().hex[:8]}"
    settings = make_settings(
        tmp_path / "var", database_url=pg_url, db_application_name=application, db_pool_min=2
    )
    db = Database(settings)
    try:
        assert await db.fill_pool() == 2
        assert await _connections_of(pg_url, application, 2) == 2
        old_pool = db.engine.sync_engine.pool
        held = await db.engine.connect()
        assert (await held.execute(text("SELECT 1"))).scalar_one() == 1
        await db.reset_pool()
        assert db.engine.sync_engine.pool is not old_pool
        assert await _connections_of(pg_url, application, 1) == 1  # the idle one closed
        assert (await held.execute(text("SELECT 2"))).scalar_one() == 2  # not dropped
        await held.close()
        assert await _connections_of(pg_url, application, 0) == 0
        async with db.session() as session:
            assert (await session.execute(text("SELECT 3"))).scalar_one() == 3
        assert await _connections_of(pg_url, application, 1) == 1  # the new pool keeps it
    finally:
        await db.dispose()


def test_pool_api_and_commands_beside_a_server(pg_url: str, tmp_path: Path, serve_app: Any) -> None:
    settings = make_settings(tmp_path / "var", database_url=pg_url)
    live = serve_app(settings)
    with live.client() as client:
        pools = client.get("/v1/admin/db/pools").json()
        assert pools["across_instances"] is True and len(pools["instances"]) == 1
        assert client.post("/v1/admin/db/pool/reset").json()["signal"] == "notify"
    env = {"RAGOPS_API_KEY": live.api_key or ""}
    status = _cli(tmp_path, pg_url, "status", "--url", live.base_url, **env)
    assert status.returncode == 0 and "pools" in status.stdout, status.stderr
    reset = _cli(tmp_path, pg_url, "pool", "reset", "--url", live.base_url, **env)
    assert reset.returncode == 0 and "every instance" in reset.stdout
    with live.client() as client:
        assert client.get("/v1/admin/db/pools").json()["instances"][0]["resets"] == 2


def test_sqlite_says_what_does_not_apply(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    run_cli(data_dir, "db", "upgrade")
    slow = run_cli(data_dir, "db", "slow-queries")
    assert "not applicable on SQLite" in slow.stdout
    status = run_cli(data_dir, "db", "status")
    assert "not applicable: connections, transactions, lock waits, replication" in status.stdout
    killed = run_cli(data_dir, "db", "kill", "123", "--yes", check=False)
    assert killed.returncode == 1 and "not applicable on SQLite" in killed.stderr
    reset = run_cli(data_dir, "db", "pool", "reset", check=False)
    assert reset.returncode == 1 and "no running ragops server" in reset.stderr
    run_sync(asyncio.sleep(0))
