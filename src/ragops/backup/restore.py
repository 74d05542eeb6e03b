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

Verify: the same steps into a scratch directory and a scratch database (a new SQLite file, or a
new PostgreSQL database on the configured server or `scratch_url`), removed afterwards.

pgvector: the vectors are tables of the dump, so they come back with the database; the target
must use the pgvector store in the restored database, on a server with the extension, or the
restore is refused before anything changes. The verification then runs the store check
(`consistency.service`) on the restored pair and compares points per tenant and collection.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import InvalidVersion, Version
from sqlalchemy.engine import make_url

from ragops import __version__
from ragops.backup import database as dbpart
from ragops.backup.archive import InvalidBackup, open_backup
from ragops.backup.checks import Verification, verify_restored
from ragops.backup.lock_wait import RestoreLockTimeout
from ragops.backup.manifest import Manifest
from ragops.backup.service import BackupResult, create_backup
from ragops.backup.vectors import edge_target, restore_vectors, target_problem
from ragops.config import Settings
from ragops.db import migrate
from ragops.server_state import read_state


class RestoreRefused(Exception):
    """The restore was refused before anything was changed (the message says why)."""


class RestoreFailed(Exception):
    """The restore failed after the safety backup of the target was written: the target may be
    half replaced, and `safety_backup` holds what it held before (`cause` says what failed)."""

    def __init__(self, cause: Exception, safety_backup: Path) -> None:
        super().__init__(f"{cause}; the target's previous data is in {safety_backup}")
        self.cause = cause
        self.safety_backup = safety_backup


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
    steps: dict[str, float] = field(default_factory=dict)


def newer_than_code(manifest: Manifest) -> str | None:
    """Why this code cannot restore the backup (written by a newer release), or None."""
    revision = manifest.migration_revision
    if revision is not None:
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
        try:
            known = script.get_revision(revision) is not None
        except Exception:
            known = False
        if not known:
            return (
                f"the backup's schema revision {revision} is newer than this release's "
                f"({migrate.head_revision()}): restore it with ragops {manifest.ragops_version} "
                "or later"
            )
    try:
        if Version(manifest.ragops_version) > Version(__version__):
            return (
                f"the backup was written by ragops {manifest.ragops_version}, newer than this "
                f"release ({__version__})"
            )
    except InvalidVersion:
        return f"the backup names an unreadable ragops version {manifest.ragops_version!r}"
    return None


def _shard_present(settings: Settings, manifest: Manifest) -> bool:
    if manifest.vectors.backend != "edge":
        return False
    target = edge_target(settings, manifest.vectors)
    return target.is_dir() and any(target.iterdir())


async def _is_live(settings: Settings, manifest: Manifest) -> bool:
    return not await dbpart.is_empty(settings.resolved_database_url) or _shard_present(
        settings, manifest
    )


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


async def restore_backup(
    path: Path,
    *,
    settings: Settings,
    key: bytes | None,
    force: bool = False,
    lock_timeout: float = dbpart.RESTORE_LOCK_TIMEOUT_SECONDS,
) -> RestoreReport:
    """Restore the backup at `path` into the data directory and database of `settings`; on
    PostgreSQL no lock is waited for longer than `lock_timeout` seconds."""
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
        safety: BackupResult | None = None
        if await _is_live(settings, manifest):
            if not force:
                raise RestoreRefused(
                    "the target already holds data (database "
                    f"{_describe(settings.resolved_database_url)}, data directory "
                    f"{settings.data_dir}); restore into a new target, or pass --force to "
                    "replace it (a safety backup of it is taken first)"
                )
            mark = time.perf_counter()
            safety = await _safety_backup(settings, manifest)
            steps["safety backup"] = time.perf_counter() - mark
        with _naming_safety(safety):
            await _put_in_place(manifest, files, settings, lock_timeout, steps)
    with _naming_safety(safety):
        mark = time.perf_counter()
        before = await migrate.current_revision(settings)
        after = before
        if before != migrate.head_revision():
            await migrate.upgrade(settings)
            after = await migrate.current_revision(settings)
        steps["migrations"] = time.perf_counter() - mark
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
        safety_backup=safety,
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
def _naming_safety(safety: BackupResult | None) -> Iterator[None]:
    """Turn a failure after the safety backup was written into `RestoreFailed`, which names
    it (the target may be half replaced by then). A restore that gave up waiting for a lock
    changed nothing (its one transaction rolled back), so it is raised as it is."""
    try:
        yield
    except RestoreLockTimeout:
        raise
    except Exception as exc:
        if safety is None:
            raise
        raise RestoreFailed(exc, safety.path) from exc


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


__all__ = ["InvalidBackup", "RestoreFailed", "RestoreRefused", "restore_backup", "verify_backup"]
