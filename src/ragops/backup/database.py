"""The relational part of a backup and of a restore, per backend.

PostgreSQL: `pg_dump` (the machine's, custom format) reads a snapshot exported by a
repeatable-read transaction of ours, so the dump, the row counts and the corpus versions all
see one moment, the moment the vector store was held (see `service`). Restores use
`pg_restore --single-transaction --exit-on-error`: a failed restore leaves the target as it
was, and one that waits too long for a table another session holds gives up (`lock_wait`).
Connection details reach the tools through `PG*` variables, never their argument list. The
tools are chosen by the server's major version (`pg_tool`): `pg_dump` refuses a newer
server, and `pg_restore` a dump of a newer `pg_dump`.

SQLite: the online backup API copies the database page by page while the service runs; a
restore copies the file into place under a temporary name and renames it.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import shutil
import sqlite3
import subprocess  # nosec B404 - pg_dump/pg_restore with fixed arguments, no shell
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import URL, make_url

from ragops.backup.manifest import CorpusVersionEntry

RESTORE_LOCK_TIMEOUT_SECONDS = 10.0
"""The longest a restore waits for one lock another session holds (`--lock-timeout`)."""


class DatabaseBackupError(Exception):
    """A dump or restore of the relational data failed (the message says why)."""


def backend_of(database_url: str) -> str:
    """ "sqlite" or "postgresql"."""
    return make_url(database_url).get_backend_name()


def sqlite_path(database_url: str) -> Path:
    """The file of a SQLite URL."""
    database = make_url(database_url).database
    if not database:
        raise DatabaseBackupError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def libpq_env(url: URL) -> dict[str, str]:
    """`PG*` environment variables naming the database of `url` (password included)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    pairs = {
        "PGHOST": url.host or url.query.get("host"),  # a unix socket directory in the query
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGDATABASE": url.database,
        "PGSSLMODE": url.query.get("sslmode") or url.query.get("ssl"),
    }
    env.update({k: str(v) for k, v in pairs.items() if v})
    return env


def asyncpg_dsn(url: URL) -> str:
    """A DSN asyncpg accepts for `url`."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@functools.lru_cache(maxsize=16)
def tool_major(path: str) -> int | None:
    """The major version of a PostgreSQL client tool (`pg_dump (PostgreSQL) 16.2` -> 16)."""
    done = subprocess.run(  # nosec B603 - a tool found on disk, fixed argument
        [path, "--version"], capture_output=True, text=True, check=False
    )
    found = re.search(r"\) (\d+)", done.stdout)
    return int(found.group(1)) if done.returncode == 0 and found else None


def _candidates(name: str, bin_dir: Path | None) -> list[str]:
    if bin_dir is not None:
        return [str(bin_dir / name)] if (bin_dir / name).is_file() else []
    found = [shutil.which(name)]
    found += [str(p) for p in Path("/usr/lib/postgresql").glob(f"*/bin/{name}")]
    return [p for p in dict.fromkeys(found) if p is not None]


def pg_tool(name: str, server_major: int, bin_dir: Path | None = None) -> str:
    """The newest `name` of `bin_dir` (or PATH and /usr/lib/postgresql/<N>/bin) whose major
    version is at least the server's."""
    versions = {path: tool_major(path) for path in _candidates(name, bin_dir)}
    usable = {p: v for p, v in versions.items() if v is not None and v >= server_major}
    if usable:
        return max(usable, key=lambda p: usable[p] or 0)
    where = f"in {bin_dir}" if bin_dir is not None else "on PATH or in /usr/lib/postgresql"
    if not versions:
        raise DatabaseBackupError(f"{name} is not installed {where} (PostgreSQL client tools)")
    found = ", ".join(sorted({str(v) for v in versions.values()}))
    raise DatabaseBackupError(
        f"{name} {where} is version {found}, older than the server (PostgreSQL "
        f"{server_major}): install the client tools of version {server_major} or newer, or "
        "point RAGOPS_PG_BIN_DIR at them"
    )


def run_tool(args: list[str], env: dict[str, str]) -> None:
    """Run a PostgreSQL client tool; its stderr becomes the error."""
    done = subprocess.run(  # nosec B603 - fixed tool, arguments built here
        args, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise DatabaseBackupError(f"{Path(args[0]).name} failed: {' '.join(detail)}")


@dataclass
class PgSnapshot:
    """A repeatable-read transaction whose snapshot others can use (`pg_dump --snapshot`)."""

    connection: Any
    snapshot_id: str
    url: URL
    tables: dict[str, int] = field(default_factory=dict)

    @property
    def server_major(self) -> int:
        """The server's major version (16 for 16.2)."""
        return int(self.connection.get_server_version().major)


@asynccontextmanager
async def pg_snapshot(database_url: str) -> AsyncIterator[PgSnapshot]:
    """Export a snapshot and keep its transaction open until the block ends."""
    url = make_url(database_url)
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot_id = await connection.fetchval("SELECT pg_export_snapshot()")
        yield PgSnapshot(connection=connection, snapshot_id=str(snapshot_id), url=url)
    finally:
        await connection.close()


async def pg_counts(snapshot: PgSnapshot) -> tuple[dict[str, int], list[CorpusVersionEntry]]:
    """Row counts of every table of the public schema, and the corpus versions, as of the
    snapshot."""
    names = await snapshot.connection.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    )
    counts: dict[str, int] = {}
    for row in names:
        table = row["tablename"].replace('"', '""')
        counts[row["tablename"]] = int(
            await snapshot.connection.fetchval(f'SELECT count(*) FROM public."{table}"')  # nosec B608
        )
    versions: list[CorpusVersionEntry] = []
    if "corpus_versions" in counts:
        rows = await snapshot.connection.fetch(
            "SELECT tenant_id, collection, version FROM corpus_versions "
            "ORDER BY tenant_id, collection"
        )
        versions = [CorpusVersionEntry(**dict(r)) for r in rows]
    return counts, versions


async def pg_dump(snapshot: PgSnapshot, dest: Path, bin_dir: Path | None = None) -> None:
    """Dump the database as of the snapshot, custom format, into `dest`."""
    tool = pg_tool("pg_dump", snapshot.server_major, bin_dir)
    args = [tool, "--format=custom", "--no-owner", "--no-privileges"]
    args += [f"--snapshot={snapshot.snapshot_id}", f"--file={dest}"]
    await asyncio.to_thread(run_tool, args, libpq_env(snapshot.url))


def sqlite_copy(source: Path, dest: Path) -> None:
    """Copy a live SQLite database with the online backup API."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        out = sqlite3.connect(dest)
        try:
            src.backup(out)
        finally:
            out.close()
    finally:
        src.close()


def sqlite_checkpoint(path: Path) -> None:
    """Fold a SQLite file's write-ahead log into the file itself (before it is copied)."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


def sqlite_counts(path: Path) -> tuple[dict[str, int], list[CorpusVersionEntry]]:
    """Row counts of every table of a SQLite file, and its corpus versions."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        counts = {
            name: int(
                connection.execute(
                    f'SELECT count(*) FROM "{name.replace(chr(34), chr(34) * 2)}"'  # nosec B608
                ).fetchone()[0]
            )
            for name in names
        }
        versions: list[CorpusVersionEntry] = []
        if "corpus_versions" in counts:
            rows = connection.execute(
                "SELECT tenant_id, collection, version FROM corpus_versions "
                "ORDER BY tenant_id, collection"
            ).fetchall()
            versions = [
                CorpusVersionEntry(tenant_id=t, collection=c, version=v) for t, c, v in rows
            ]
        return counts, versions
    finally:
        connection.close()


async def table_counts(database_url: str) -> dict[str, int]:
    """Row counts of every table of a (restored) database."""
    if backend_of(database_url) == "sqlite":
        return (await asyncio.to_thread(sqlite_counts, sqlite_path(database_url)))[0]
    async with pg_snapshot(database_url) as snapshot:
        return (await pg_counts(snapshot))[0]


async def is_empty(database_url: str) -> bool:
    """Whether the database holds no table (a missing one counts as empty)."""
    if backend_of(database_url) == "sqlite":
        path = sqlite_path(database_url)
        if not path.exists() or path.stat().st_size == 0:
            return True
        return not await asyncio.to_thread(sqlite_counts, path)
    url = make_url(database_url)
    if not await pg_database_exists(url):
        return True
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        found = await connection.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        )
    finally:
        await connection.close()
    return int(found) == 0


def _maintenance_dsn(url: URL) -> str:
    return asyncpg_dsn(url.set(database="postgres"))


async def pg_database_exists(url: URL) -> bool:
    """Whether the database of `url` exists on its server."""
    connection = await asyncpg.connect(_maintenance_dsn(url))
    try:
        found = await connection.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", url.database
        )
    finally:
        await connection.close()
    return found is not None


async def pg_create_database(url: URL) -> None:
    """Create the (new) database of `url`."""
    connection = await asyncpg.connect(_maintenance_dsn(url))
    try:
        name = (url.database or "").replace('"', '""')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def pg_drop_database(url: URL) -> None:
    """Drop the database of `url` (scratch databases of verification and drills)."""
    connection = await asyncpg.connect(_maintenance_dsn(url))
    try:
        name = (url.database or "").replace('"', '""')
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def dump_listing(source: Path, server_major: int, bin_dir: Path | None = None) -> str:
    """The table of contents of a custom-format dump (`pg_restore --list`)."""
    tool = pg_tool("pg_restore", server_major, bin_dir)

    def listing() -> str:
        done = subprocess.run(  # nosec B603 - fixed tool, arguments built here
            [tool, "--list", str(source)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise DatabaseBackupError(f"pg_restore --list failed: {done.stderr.strip()}")
        return done.stdout

    return await asyncio.to_thread(listing)


async def pg_server_major(url: URL) -> int:
    """The major version of the server of `url` (through its maintenance database)."""
    connection = await asyncpg.connect(_maintenance_dsn(url))
    try:
        return int(connection.get_server_version().major)
    finally:
        await connection.close()


async def pg_extension_available(url: URL, name: str) -> bool:
    """Whether the server of `url` can create the extension `name` (e.g. pgvector's)."""
    connection = await asyncpg.connect(_maintenance_dsn(url))
    try:
        found = await connection.fetchval(
            "SELECT 1 FROM pg_available_extensions WHERE name = $1", name
        )
    finally:
        await connection.close()
    return found is not None


def same_database(first: str, second: str) -> bool:
    """Whether two PostgreSQL URLs name the same database on the same server (host or socket
    directory, port, database name; the user does not matter)."""

    def key(raw: str) -> tuple[str, int, str]:
        url = make_url(raw)
        host = url.host or str(url.query.get("host") or "")
        return host, url.port or 5432, url.database or ""

    return key(first) == key(second)


async def restore_database(
    backend: str,
    source: Path,
    database_url: str,
    bin_dir: Path | None = None,
    lock_timeout: float = RESTORE_LOCK_TIMEOUT_SECONDS,
) -> None:
    """Restore the dump or SQLite copy `source` into the database of `database_url`,
    replacing what it holds, all or nothing. On PostgreSQL no lock is waited for longer than
    `lock_timeout` seconds: past it the restore is cancelled, rolled back, and
    `RestoreLockTimeout` names the sessions holding the tables (`lock_wait`)."""
    target = backend_of(database_url)
    if target != backend:
        raise DatabaseBackupError(f"this backup holds a {backend} database; the target is {target}")
    if backend == "sqlite":
        path = sqlite_path(database_url)
        path.parent.mkdir(parents=True, exist_ok=True)
        staged = path.with_name(f".{path.name}.restoring")
        await asyncio.to_thread(shutil.copyfile, source, staged)
        for suffix in ("-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        os.replace(staged, path)
        return
    url = make_url(database_url)
    if not await pg_database_exists(url):
        await pg_create_database(url)
    tool = pg_tool("pg_restore", await pg_server_major(url), bin_dir)
    args = [tool, "--single-transaction", "--exit-on-error", "--no-owner"]
    args += ["--no-privileges", "--clean", "--if-exists", f"--dbname={url.database}", str(source)]
    from ragops.backup.lock_wait import run_watched

    application = f"ragops-restore-{uuid.uuid4().hex[:12]}"  # how the watcher finds it
    env = libpq_env(url) | {"PGAPPNAME": application}
    await run_watched(url, application, asyncio.to_thread(run_tool, args, env), lock_timeout)
