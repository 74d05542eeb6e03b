"""Several instances starting together on one empty PostgreSQL database: the migration runs
once under an advisory lock, and only one bootstrap key is made."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

from ragops.auth.bootstrap import ensure_bootstrap_key
from ragops.auth.service import count_keys
from ragops.db import Database, migrate
from tests.conftest import RAGOPS_CLI, make_settings


async def test_three_concurrent_upgrades_on_an_empty_database_all_succeed(
    pg_url: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path / "var", database_url=pg_url)
    # Each call opens its own engine and connection, as three starting instances would.
    results = await asyncio.gather(
        *(migrate.upgrade(settings) for _ in range(3)), return_exceptions=True
    )
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert await migrate.current_revision(settings) == migrate.head_revision()


async def test_two_instances_make_one_bootstrap_key(pg_url: str, tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "var", database_url=pg_url, bootstrap_api_key=True, environment="development"
    )
    await migrate.upgrade(settings)
    databases = [Database(settings) for _ in range(3)]
    try:
        keys = await asyncio.gather(
            *(ensure_bootstrap_key(settings=settings, db=db) for db in databases)
        )
        assert len([key for key in keys if key]) == 1
        assert await count_keys(db=databases[0]) == 1
    finally:
        for db in databases:
            await db.dispose()


def test_three_db_upgrade_processes_at_once_all_succeed(pg_url: str, tmp_path: Path) -> None:
    environment = {
        **os.environ,
        "RAGOPS_DATA_DIR": str(tmp_path / "var"),
        "RAGOPS_DATABASE_URL": pg_url,
        "RAGOPS_LOG_LEVEL": "WARNING",
    }
    processes = [
        subprocess.Popen(
            [RAGOPS_CLI, "db", "upgrade"],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], outputs
    head = migrate.head_revision()
    assert all(f"database at {head}" in output for output in outputs), outputs
