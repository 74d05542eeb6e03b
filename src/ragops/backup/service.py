"""Create a backup: one consistent cut of the database and the vectors, packed with its
manifest into one archive (optionally encrypted), then older backups pruned.

The cut. The vector store's own thread is held (nothing writes vectors) while the database's
snapshot is taken (a SQLite online copy, or an exported PostgreSQL snapshot that `pg_dump` then
reads); then the shard is flushed and copied and the store released. Ingestion writes points
before it commits their chunk rows and deletes old points after, so this cut never holds a
chunk row without its point; at worst it holds points of a version superseded in that instant,
which `store check` lists as orphans. With the pgvector store the vectors are tables of the same
database, so the one exported snapshot holds both and nothing is held (`vectors`).

All or nothing. Files are written into `.<name>.partial` beside the destination, the archive
as `.<name>.partial`; only a complete archive, manifest last inside, is renamed to
`ragops-backup-<UTC time>.tar.gz` (`.tar.gz.enc` when encrypted). Any failure removes the
partial files and raises `BackupError` (a file-system error names the directory or file and
the OS reason); nothing named like a backup is left behind.

The archive is gzip-compressed (level 1: fast, and what it saves is mostly the embedded vector
store's preallocated pages, zeros that would otherwise fill ~200 MB for a one-document corpus).
Archives written uncompressed by earlier releases (`.tar`, `.tar.enc`) are still listed,
pruned, verified and restored.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tarfile
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ragops import __version__
from ragops.backup import crypto
from ragops.backup import database as dbpart
from ragops.backup.fs_errors import describe, ensure_backup_dir, os_reason, within
from ragops.backup.manifest import (
    MANIFEST_NAME,
    PG_DUMP_FILE,
    SQLITE_FILE,
    CorpusVersionEntry,
    DatabasePart,
    Manifest,
    VectorPart,
    file_entries,
)
from ragops.backup.vectors import copy_vectors, dump_problems, pgvector_outside, pgvector_part
from ragops.config import Settings
from ragops.providers.vectorstore.base import VectorStore
from ragops.providers.vectorstore.pgvector import PgVectorStore

logger = logging.getLogger(__name__)

PREFIX = "ragops-backup-"
SUFFIXES = (".tar.gz", ".tar.gz.enc", ".tar", ".tar.enc")
"""Backup file endings: compressed (written now) and uncompressed (earlier releases)."""
STEPS = ("snapshot", "dump", "checksums", "archive", "encrypt")

Progress = Callable[[str, int, int], None]
"""Called with the step's name, the steps done and the steps in all."""


class BackupError(Exception):
    """The backup failed; no backup file was left."""


@dataclass
class BackupResult:
    """A finished backup: its file, manifest, duration and the older backups removed."""

    path: Path
    manifest: Manifest
    seconds: float
    pruned: list[Path] = field(default_factory=list)


def backup_dir(settings: Settings) -> Path:
    """Where backups go by default (`RAGOPS_BACKUP_DIR`, else `<data_dir>/backups`)."""
    return settings.backup_dir or settings.data_dir / "backups"


def backup_key(settings: Settings) -> bytes | None:
    """The encryption key from settings, or None when backups are not encrypted."""
    if settings.backup_key is None:
        return None
    return crypto.parse_key(settings.backup_key.get_secret_value())


def list_backups(directory: Path) -> list[Path]:
    """Finished backups in `directory`, newest first (partial files are not listed)."""
    if not directory.is_dir():
        return []
    found = [
        p
        for p in directory.iterdir()
        if p.is_file() and p.name.startswith(PREFIX) and p.name.endswith(SUFFIXES)
    ]
    return sorted(found, key=lambda p: p.name, reverse=True)


def prune(directory: Path, keep: int) -> list[Path]:
    """Remove all but the `keep` newest backups of `directory`; the removed paths."""
    removed = list_backups(directory)[keep:]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def _stamp() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


async def _current_revision(settings: Settings) -> str | None:
    from ragops.db import migrate

    return await migrate.current_revision(settings)


async def create_backup(
    *,
    settings: Settings,
    store: VectorStore,
    directory: Path | None = None,
    keep: int | None = None,
    encrypt: bool | None = None,
    progress: Progress | None = None,
) -> BackupResult:
    """Back up the database of `settings` and the vectors of `store` into `directory`."""
    report = progress or (lambda _step, _done, _total: None)
    steps = [s for s in STEPS if s != "encrypt" or _want_key(settings, encrypt)]
    key = backup_key(settings) if "encrypt" in steps else None
    target = directory or backup_dir(settings)
    refused = ensure_backup_dir(target)
    if refused:
        raise BackupError(refused)
    name = PREFIX + _stamp()
    final = target / (name + (".tar.gz.enc" if key else ".tar.gz"))
    work = target / f".{name}.partial"
    archive = target / f".{name}.tar.gz.partial"
    sealed = target / f".{name}.tar.gz.enc.partial"
    started, clock = _now(), time.perf_counter()
    try:
        work.mkdir()
        report("snapshot", 0, len(steps))
        manifest_parts = await _snapshot(
            settings, store, work, lambda: report("dump", 1, len(steps))
        )
        report("checksums", 2, len(steps))
        files = await asyncio.to_thread(file_entries, work)
        seconds = round(time.perf_counter() - clock, 3)
        database, vectors, versions, notes = manifest_parts
        manifest = Manifest(
            ragops_version=__version__,
            migration_revision=await _current_revision(settings),
            database=database,
            vectors=vectors,
            corpus_versions=versions,
            files=files,
            started_at=started,
            finished_at=_now(),
            seconds=seconds,
            notes=notes,
        )
        problems = manifest.problems()
        if problems:
            raise BackupError("; ".join(problems))
        (work / MANIFEST_NAME).write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
        report("archive", 3, len(steps))
        await asyncio.to_thread(_pack, work, archive)
        if key is not None:
            report("encrypt", 4, len(steps))
            await asyncio.to_thread(crypto.encrypt_file, archive, sealed, key)
            archive.unlink()
            os.replace(sealed, final)
        else:
            os.replace(archive, final)
    except BaseException as exc:
        for leftover in (archive, sealed):
            leftover.unlink(missing_ok=True)
        shutil.rmtree(work, ignore_errors=True)
        if isinstance(exc, BackupError | asyncio.CancelledError | KeyboardInterrupt):
            raise
        if isinstance(exc, OSError) and exc.errno is not None:
            raise BackupError(_file_error(exc, target)) from exc
        if isinstance(exc, Exception):
            raise BackupError(f"{type(exc).__name__}: {exc}") from exc
        raise
    shutil.rmtree(work, ignore_errors=True)
    report("done", len(steps), len(steps))
    pruned = prune(target, keep) if keep is not None else []
    logger.info("backup %s written (%.1f s)", final.name, time.perf_counter() - clock)
    return BackupResult(
        path=final, manifest=manifest, seconds=time.perf_counter() - clock, pruned=pruned
    )


def _file_error(exc: OSError, target: Path) -> str:
    """A file-system failure of a backup: the backup directory (or the file read) and the OS
    reason."""
    if within(exc, target):
        return f"cannot write backups to {target}: {os_reason(exc)}; nothing written"
    return f"{describe(exc)}; nothing written"


def _want_key(settings: Settings, encrypt: bool | None) -> bool:
    if encrypt is None:
        return settings.backup_key is not None
    if encrypt and settings.backup_key is None:
        raise BackupError("encryption asked for, but RAGOPS_BACKUP_KEY is not set")
    return encrypt


async def _snapshot(
    settings: Settings, store: VectorStore, work: Path, dumping: Callable[[], None]
) -> tuple[DatabasePart, VectorPart, list[CorpusVersionEntry], list[str]]:
    """Cut both stores at one moment; dump the database; count its rows."""
    url = settings.resolved_database_url
    backend = dbpart.backend_of(url)
    notes: list[str] = []
    if backend == "sqlite":
        source = dbpart.sqlite_path(url)
        if not source.exists():
            raise BackupError(f"no database at {source}")

        async def cut() -> None:
            await asyncio.to_thread(dbpart.sqlite_copy, source, work / SQLITE_FILE)

        vectors = await copy_vectors(store, work, cut)
        dumping()
        tables, versions = await asyncio.to_thread(dbpart.sqlite_counts, work / SQLITE_FILE)
        return (
            DatabasePart(backend="sqlite", file=SQLITE_FILE, tables=tables),
            vectors,
            versions,
            notes,
        )
    if isinstance(store, PgVectorStore):
        return await _pgvector_snapshot(settings, store, work, dumping)
    async with AsyncExitStack() as stack:
        taken: list[dbpart.PgSnapshot] = []

        async def export() -> None:
            taken.append(await stack.enter_async_context(dbpart.pg_snapshot(url)))

        vectors = await copy_vectors(store, work, export)
        dumping()
        tables, versions = await dbpart.pg_counts(taken[0])
        await dbpart.pg_dump(taken[0], work / PG_DUMP_FILE, settings.pg_bin_dir)
    part = DatabasePart(backend="postgresql", file=PG_DUMP_FILE, tables=tables)
    return part, vectors, versions, notes


async def _pgvector_snapshot(
    settings: Settings, store: PgVectorStore, work: Path, dumping: Callable[[], None]
) -> tuple[DatabasePart, VectorPart, list[CorpusVersionEntry], list[str]]:
    """The database with the pgvector tables in it: one snapshot, one dump, nothing held."""
    url = settings.resolved_database_url
    refused = pgvector_outside(store, url)
    if refused:
        raise BackupError(refused)
    async with dbpart.pg_snapshot(url) as snapshot:
        dumping()
        tables, versions = await dbpart.pg_counts(snapshot)
        vectors = await pgvector_part(store, snapshot, PG_DUMP_FILE)
        await dbpart.pg_dump(snapshot, work / PG_DUMP_FILE, settings.pg_bin_dir)
        major = snapshot.server_major
    listing = await dbpart.dump_listing(work / PG_DUMP_FILE, major, settings.pg_bin_dir)
    missing = dump_problems(listing, vectors)
    if missing:
        raise BackupError("; ".join(missing))
    part = DatabasePart(backend="postgresql", file=PG_DUMP_FILE, tables=tables)
    return part, vectors, versions, []


def _pack(work: Path, archive: Path) -> None:
    """Write `work` into a gzip-compressed tar (level 1), the manifest as the last member."""
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        for path in sorted(p for p in work.rglob("*") if p.is_file()):
            name = path.relative_to(work).as_posix()
            if name != MANIFEST_NAME:
                tar.add(path, arcname=name, recursive=False)
        tar.add(work / MANIFEST_NAME, arcname=MANIFEST_NAME, recursive=False)
    with archive.open("rb+") as fh:  # on disk before it is renamed into place
        os.fsync(fh.fileno())
