"""The raw safety copy of a restore target that cannot be backed up (`--raw-safety-copy`).

A restore with `--force` first takes a safety backup of the target. When the target is the
thing that is broken (a failed or corrupt write left its SQLite file unreadable, its schema
half migrated, its chunk rows without their vectors), that backup fails: it reads and checks
what it copies. The raw copy reads nothing: it keeps the target's files as they are, byte for
byte, in `<backup dir>/ragops-raw-<UTC time>/` before the restore replaces them:

- SQLite: the database file and its `-wal`/`-shm` files, copied unchanged;
- PostgreSQL: `pg_dump` of the whole database as it is (custom format, no row counts and no
  consistency checks; it fails only when the server cannot read the database at all);
- the embedded vector store's directory, copied unchanged (pgvector vectors are inside the
  dump; a Qdrant server's collection cannot be held here and the raw copy is refused).

It is written as `.ragops-raw-<time>.partial` and renamed when complete, with a README.txt
that says what it holds and how to put it back. It is not a backup archive: `ragops backup
restore` does not read it, and pruning (`--keep`) does not remove it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from sqlalchemy.engine import make_url

from ragops.backup import database as dbpart
from ragops.backup.service import BackupError, backup_dir
from ragops.config import Settings

PREFIX = "ragops-raw-"
DUMP_NAME = "database.dump"
VECTORS_NAME = "vectors"


def _readme(settings: Settings, backend: str, files: list[str], vectors: bool) -> str:
    database = make_url(settings.resolved_database_url).render_as_string(hide_password=True)
    lines = [
        "Raw safety copy written by `ragops backup restore --raw-safety-copy` before it",
        "replaced a target it could not back up (unreadable or inconsistent).",
        f"Target data directory: {settings.data_dir}",
        f"Target database: {database}",
        "",
        "Files: " + ", ".join(files),
        "",
        "To put it back (stop every ragops process using the target first):",
    ]
    if backend == "sqlite":
        path = dbpart.sqlite_path(settings.resolved_database_url)
        lines.append(f"  copy {path.name} (and any -wal/-shm file here) over {path}")
    else:
        lines.append(
            f"  pg_restore --clean --if-exists --no-owner --no-privileges "
            f"--dbname=<the target database> {DUMP_NAME}"
        )
    if vectors:
        lines.append(f"  replace {settings.edge_path} with the {VECTORS_NAME}/ directory here")
    return "\n".join(lines) + "\n"


async def _copy_database(settings: Settings, work: Path) -> list[str]:
    url = settings.resolved_database_url
    if dbpart.backend_of(url) == "sqlite":
        path = dbpart.sqlite_path(url)
        copied = []
        for source in (
            path,
            path.with_name(path.name + "-wal"),
            path.with_name(path.name + "-shm"),
        ):
            if source.is_file():
                await asyncio.to_thread(shutil.copyfile, source, work / source.name)
                copied.append(source.name)
        return copied
    pg = make_url(url)
    if not await dbpart.pg_database_exists(pg):
        return []
    tool = dbpart.pg_tool("pg_dump", await dbpart.pg_server_major(pg), settings.pg_bin_dir)
    args = [tool, "--format=custom", "--no-owner", "--no-privileges", f"--file={work / DUMP_NAME}"]
    await asyncio.to_thread(dbpart.run_tool, args, dbpart.libpq_env(pg))
    return [DUMP_NAME]


async def raw_safety_copy(settings: Settings) -> Path:
    """Keep the target's database and embedded vector files aside, unchanged; the directory.
    Raises `BackupError` (nothing left behind) when they cannot be copied."""
    if settings.resolved_vector_store == "qdrant":
        raise BackupError(
            "a raw safety copy cannot hold a Qdrant server's collection: snapshot it with "
            "Qdrant's own tools, then restore with --no-safety-backup"
        )
    from ragops.backup.service import _stamp

    directory = backup_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    name = PREFIX + _stamp()
    work = directory / f".{name}.partial"
    final = directory / name
    try:
        work.mkdir()
        files = await _copy_database(settings, work)
        edge = settings.edge_path
        vectors = settings.resolved_vector_store == "edge" and edge.is_dir()
        if vectors:
            await asyncio.to_thread(shutil.copytree, edge, work / VECTORS_NAME)
            files.append(f"{VECTORS_NAME}/")
        backend = dbpart.backend_of(settings.resolved_database_url)
        (work / "README.txt").write_text(
            _readme(settings, backend, files, vectors), encoding="utf-8"
        )
        os.replace(work, final)
    except BaseException as exc:
        shutil.rmtree(work, ignore_errors=True)
        if isinstance(exc, Exception) and not isinstance(exc, BackupError):
            raise BackupError(f"the raw safety copy failed: {exc}") from exc
        raise
    return final
