"""Choosing pg_dump/pg_restore by the server's major version, and telling whether the pgvector
store shares the database's URL (pure functions on the machine's real tools)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from ragops.backup.database import DatabaseBackupError, pg_tool, same_database, tool_major


def _pgserver_bin() -> Path:
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pgserver

    return Path(pgserver.__file__).parent / "pginstall" / "bin"


def test_a_tool_at_least_as_new_as_the_server_is_chosen() -> None:
    bins = _pgserver_bin()
    chosen = pg_tool("pg_dump", 16, bins)
    assert chosen == str(bins / "pg_dump") and tool_major(chosen) == 16
    assert (tool_major(pg_tool("pg_restore", 14)) or 0) >= 14  # PATH or /usr/lib/postgresql


def test_a_server_newer_than_every_tool_is_refused_with_the_version_needed(
    tmp_path: Path,
) -> None:
    with pytest.raises(DatabaseBackupError, match="older than the server.*version 99"):
        pg_tool("pg_dump", 99, _pgserver_bin())
    with pytest.raises(DatabaseBackupError, match="not installed"):
        pg_tool("pg_dump", 15, tmp_path)


def test_same_database_compares_server_and_name_not_user() -> None:
    sock = "postgresql+asyncpg://postgres@/app?host=/run/pg"
    assert same_database(sock, "postgresql://other@/app?host=/run/pg")
    assert not same_database(sock, "postgresql://postgres@/vectors?host=/run/pg")
    assert same_database("postgresql+asyncpg://a@db:5432/app", "postgresql://b@db/app")
    assert not same_database("postgresql+asyncpg://a@db/app", "postgresql://a@db2/app")
