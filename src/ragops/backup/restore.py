"""Restore a backup, and verify one by a trial restore into scratch stores.

Restore: the backup is unpacked and every checksum checked first; a backup written by a newer
release (a migration revision this code does not ship, or a higher version) is refused. The
target is a new database and data directory unless `force` is given; with `force`, a live
target is first backed up itself (the safety backup), and a server running on the target's
data directory is refused in any case (it holds the embedded store). A failure after the
safety backup is raised as `RestoreFailed`, which names it (the target may be half replaced).
Sessions of other instances holding the database's tables make the restore give up after
`lock_timeout` seconds, nothing changed (`RestoreLockTimeout`, raised as it is; `lock_wait`
names them). The database is restored
all or nothing, the vector shard swapped in by rename, then migrations run forward when the
backup is older than the code, and the result is compared with the manifest.

A target too broken to back up (an unreadable SQLite file, a half-migrated schema: the safety
backup reads and checks what it copies) stops the restore, nothing changed, with a message
naming `safety="raw"` (`--raw-safety-copy`: its files kept aside unchanged, `raw_copy`) and
`safety="none"` (`--no-safety-backup`). An unreadable SQLite file counts as live data.

Migrations forward (`migrate_forward`): on SQLite the unpacked copy is migrated before it is
renamed into place; on PostgreSQL the restored database is migrated in place, in one
transaction, given up (`MigrationLockTimeout`, re-exported here) when a lock is held past
`lock_timeout`.

Verify: the same steps into a scratch directory and a scratch database (a new SQLite file, or a
new PostgreSQL database on the configured server or `scratch_url`), removed afterwards.

pgvector: the vectors are tables of the dump, so they come back with the database; the target
must use the pgvector store in the restored database, on a server with the extension, or the
restore is refused before anything changes. The verification then runs the store check
(`consistency.service`) on the restored pair and compares points per tenant and collection.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import asyncpg
from sqlalchemy.engine import make_url

from ragops.backup import database as dbpart
from ragops.backup.archive import InvalidBackup, open_backup
from ragops.backup.checks import Verification, verify_restored
from ragops.backup.lock_wait import RestoreLockTimeout
from ragops.backup.manifest import Manifest
from ragops.backup.migrate_forward import (
    MigrationLockTimeout,
    migrate_in_place,
    migrate_staged,
    newer_than_code,
)
from ragops.backup.raw_copy import raw_safety_copy
from ragops.backup.service import BackupError, BackupResult, create_backup
from ragops.backup.vectors import edge_target, restore_vectors, target_problem
from ragops.config import Settings
from ragops.server_state import read_state


class RestoreRefused(Exception):
    """The restore was refused before anything was changed (the message says why)."""


Safety = Literal["backup", "raw", "none"]
"""What a forced restore keeps of the target first: a safety backup (default), a raw copy of
its files (`--raw-safety-copy`), or nothing (`--no-safety-backup`)."""


class RestoreFailed(Exception):
    """The restore failed after it began replacing a live target: the target may be half
    replaced. `safety_backup` holds what it held before: a backup archive (`safety` "backup"),
    a raw copy directory ("raw"), or None when none was taken ("none"); `cause` says what
    failed."""

    def __init__(self, cause: Exception, safety_backup: Path | None, safety: Safety) -> None:
        where = (
            f"the target's previous data is in {safety_backup}"
            if safety_backup is not None
            else "no safety copy of the target was taken (--no-safety-backup)"
        )
        super().__init__(f"{cause}; {where}")
        self.cause = cause
        self.safety_backup = safety_backup
        self.safety = safety


@dataclass
class RestoreReport:
    """What a restore did and found."""

    manifest: Manifest
    target_data_dir: Path
    target_database: str
    migrated_from: str | None
    migrated_to: str | None
    seconds: float
    verification: Verification
    safety_backup: BackupResult | None = None
    raw_safety_copy: Path | None = None
    safety_skipped: bool = False
    steps: dict[str, float] = field(default_factory=dict)


def _shard_present(settings: Settings, manifest: Manifest) -> bool:
    if manifest.vectors.backend != "edge":
        return False
    target = edge_target(settings, manifest.vectors)
    return target.is_dir() and any(target.iterdir())


async def _is_live(settings: Settings, manifest: Manifest) -> tuple[bool, str | None]:
    """Whether the target holds data, and why its database cannot be read (None when it can):
    an unreadable SQLite file (truncated, garbage) may hold data, so it counts as live. (A
    PostgreSQL database that will not open is refused; a server that cannot be reached is an
    error of its own, raised as it is.)"""
    try:
        empty = await dbpart.is_empty(settings.resolved_database_url)
    except sqlite3.DatabaseError as exc:
        return True, f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
    except asyncpg.PostgresError as exc:  # the server answers, the database will not open
        raise RestoreRefused(
            f"the target database {_describe(settings.resolved_database_url)} cannot be "
            f"opened ({exc}); nothing was changed: restore into another database "
            "(--database-url), or repair or drop this one first"
        ) from exc
    return not empty or _shard_present(settings, manifest), None


async def _safety_backup(settings: Settings, manifest: Manifest) -> BackupResult:
    """A backup of the target before it is overwritten (its store opened here; `_check_target`
    has made sure it is the kind of store the backup holds)."""
    from ragops.providers.vectorstore.factory import open_vector_store

    part = manifest.vectors
    store = open_vector_store(
        settings, model_id=part.model_id or "unknown", dimension=part.dimension
    )
    try:
        await store.ensure_ready(part.dimension or 0)
        return await create_backup(settings=settings, store=store)
    finally:
        await store.aclose()


async def _check_target(manifest: Manifest, settings: Settings) -> None:
    """Refuse, before anything changes, a target that cannot take this backup."""
    problem = target_problem(manifest.vectors, settings)
    if problem:
        raise RestoreRefused(problem)
    url = settings.resolved_database_url
    if dbpart.backend_of(url) != manifest.database.backend:
        raise RestoreRefused(
            f"this backup holds a {manifest.database.backend} database; the target is "
            f"{dbpart.backend_of(url)}"
        )
    if manifest.vectors.backend == "pgvector":
        if not await dbpart.pg_extension_available(make_url(url), "vector"):
            raise RestoreRefused(
                f"the target server of {_describe(url)} has no pgvector extension (vector): "
                "restore onto a server that has pgvector installed"
            )


def _safety_failed(settings: Settings, reason: str) -> RestoreRefused:
    """The refusal of a forced restore whose safety backup failed: nothing was changed; the
    options that replace a broken target anyway, and what each keeps."""
    from ragops.backup.service import backup_dir

    failed = f"the safety backup of the target failed, so nothing was changed: {reason}. "
    if settings.resolved_vector_store == "qdrant":  # no raw copy of a Qdrant server's points
        return RestoreRefused(
            failed + "If the target is broken and you mean to replace it, keep what you need "
            "first (a snapshot of the Qdrant collection with Qdrant's own tools, a pg_dump of "
            "the database), then run the restore again with --no-safety-backup"
        )
    return RestoreRefused(
        failed + "If the target is broken (a failed or corrupt write left it unreadable or "
        "inconsistent) and you mean to replace it, run the restore again with "
        "--raw-safety-copy: the target's database and vector files are kept aside as they "
        "are, byte for byte (PostgreSQL: a pg_dump without checks), in "
        f"{backup_dir(settings)}/ragops-raw-<time>/; or with --no-safety-backup to replace it "
        "keeping nothing"
    )


async def _keep_target(
    settings: Settings, manifest: Manifest, safety: Safety, unreadable: str | None
) -> tuple[BackupResult | None, Path | None]:
    """The safety step of a forced restore over a live target: a safety backup, or a raw
    copy of its files, or nothing, as `safety` asks. A failed step changes nothing."""
    if safety == "none":
        return None, None
    if safety == "raw":
        try:
            return None, await raw_safety_copy(settings)
        except BackupError as exc:
            raise RestoreRefused(
                f"{exc}; nothing was changed (--no-safety-backup replaces the target keeping "
                "nothing)"
            ) from exc
    if unreadable is not None:
        raise _safety_failed(settings, f"its database cannot be read ({unreadable})")
    try:
        return await _safety_backup(settings, manifest), None
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _safety_failed(settings, reason) from exc


async def restore_backup(
    path: Path,
    *,
    settings: Settings,
    key: bytes | None,
    force: bool = False,
    safety: Safety = "backup",
    lock_timeout: float = dbpart.RESTORE_LOCK_TIMEOUT_SECONDS,
) -> RestoreReport:
    """Restore the backup at `path` into the data directory and database of `settings`; on
    PostgreSQL no lock is waited for longer than `lock_timeout` seconds, by the restore nor
    by the migration forward after it. Over a live target (`force`) `safety` says what is
    kept of it first."""
    started = time.perf_counter()
    steps: dict[str, float] = {}
    async with open_backup(path, key, scratch=None) as (manifest, files):
        steps["unpack and checksums"] = time.perf_counter() - started
        reason = newer_than_code(manifest)
        if reason:
            raise RestoreRefused(reason)
        await _check_target(manifest, settings)
        running = read_state(settings.data_dir)
        if running is not None:
            raise RestoreRefused(
                f"a ragops server (pid {running.pid}) runs on {settings.data_dir}: stop it first"
            )
        backup: BackupResult | None = None
        raw: Path | None = None
        live, unreadable = await _is_live(settings, manifest)
        kept: Safety | None = None  # what was kept of a live target, None: not live
        if live:
            if not force:
                holds = (
                    f"the target's database cannot be read ({unreadable}) and may hold data"
                    if unreadable
                    else "the target already holds data"
                )
                raise RestoreRefused(
                    f"{holds} (database {_describe(settings.resolved_database_url)}, data "
                    f"directory {settings.data_dir}); restore into a new target, or pass "
                    "--force to replace it (a safety backup of it is taken first)"
                )
            mark = time.perf_counter()
            backup, raw = await _keep_target(settings, manifest, safety, unreadable)
            kept = safety
            if safety != "none":
                steps["safety backup" if safety == "backup" else "raw safety copy"] = (
                    time.perf_counter() - mark
                )
        kept_at = backup.path if backup is not None else raw
        mark = time.perf_counter()
        # SQLite: migrated forward before it is put in place (None on PostgreSQL)
        staged = await migrate_staged(manifest, files, settings, lock_timeout)
        migrating = time.perf_counter() - mark
        with _naming_safety(kept, kept_at):
            await _put_in_place(manifest, files, settings, lock_timeout, steps)
    with _naming_safety(kept, kept_at):
        mark = time.perf_counter()
        before, after = staged or await migrate_in_place(settings, lock_timeout)
        steps["migrations"] = migrating + time.perf_counter() - mark
        seconds = time.perf_counter() - started
        mark = time.perf_counter()
        verification = await verify_restored(manifest, settings)
        steps["verification"] = time.perf_counter() - mark
    return RestoreReport(
        manifest=manifest,
        target_data_dir=settings.data_dir,
        target_database=_describe(settings.resolved_database_url),
        migrated_from=before if before != after else None,
        migrated_to=after if before != after else None,
        seconds=seconds,
        verification=verification,
        safety_backup=backup,
        raw_safety_copy=raw,
        safety_skipped=kept == "none",
        steps=steps,
    )


async def _put_in_place(
    manifest: Manifest,
    files: Path,
    settings: Settings,
    lock_timeout: float,
    steps: dict[str, float],
) -> None:
    """Replace the target's database, then its vectors, with the backup's."""
    mark = time.perf_counter()
    await dbpart.restore_database(
        manifest.database.backend,
        files / manifest.database.file,
        settings.resolved_database_url,
        settings.pg_bin_dir,
        lock_timeout,
    )
    steps["database"] = time.perf_counter() - mark
    mark = time.perf_counter()
    await restore_vectors(manifest.vectors, files, settings)
    steps["vectors"] = time.perf_counter() - mark


@contextmanager
def _naming_safety(kept: Safety | None, path: Path | None) -> Iterator[None]:
    """Turn a failure after a live target began to be replaced into `RestoreFailed`, which
    names what was kept of it (`kept`: None when the target was not live). A restore or a
    migration that gave up waiting for a lock rolled back its one transaction, so it is
    raised as it is."""
    try:
        yield
    except RestoreLockTimeout:
        raise
    except Exception as exc:
        if kept is None:
            raise
        raise RestoreFailed(exc, path, kept) from exc


def _describe(database_url: str) -> str:
    """The database URL without its password."""
    return make_url(database_url).render_as_string(hide_password=True)


async def verify_backup(
    path: Path, *, settings: Settings, key: bytes | None, scratch_url: str | None = None
) -> RestoreReport:
    """Checksums, manifest and a trial restore into scratch stores (removed afterwards)."""
    import tempfile

    async with open_backup(path, key) as (manifest, _files):
        backend = manifest.database.backend
    scratch_db: str | None = None
    if backend == "postgresql":
        server = scratch_url or settings.resolved_database_url
        if dbpart.backend_of(server) != "postgresql":
            raise RestoreRefused(
                "a PostgreSQL backup needs a PostgreSQL server for its trial restore: "
                "set RAGOPS_DATABASE_URL or pass --scratch-url"
            )
        name = f"ragops_verify_{uuid.uuid4().hex[:12]}"
        scratch_db = make_url(server).set(database=name).render_as_string(hide_password=False)
    with tempfile.TemporaryDirectory(prefix="ragops-verify-") as tmp:
        overrides: dict[str, object] = {"data_dir": Path(tmp), "qdrant_url": None}
        if manifest.vectors.backend == "pgvector":  # the vectors come back in the scratch db
            overrides |= {"vector_store": "pgvector", "pgvector_url": None}
        elif settings.resolved_vector_store == "pgvector":
            overrides |= {"vector_store": "edge", "pgvector_url": None}
        if scratch_db is not None:
            overrides["database_url"] = scratch_db
        else:
            overrides["database_url"] = None
        if manifest.vectors.backend == "qdrant":
            raise RestoreRefused(
                "a trial restore of Qdrant server vectors needs a scratch Qdrant server; "
                "checksums and manifest are intact"
            )
        scratch = settings.model_copy(update=overrides)
        try:
            return await restore_backup(path, settings=scratch, key=key)
        finally:
            if scratch_db is not None:
                await dbpart.pg_drop_database(make_url(scratch_db))


__all__ = [
    "InvalidBackup",
    "MigrationLockTimeout",
    "RestoreFailed",
    "RestoreRefused",
    "restore_backup",
    "verify_backup",
]
