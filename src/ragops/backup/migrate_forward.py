"""Bringing a restored database to this release's schema.

A backup written by a newer release (a migration revision this code does not ship, or a
higher version) is refused before anything changes (`newer_than_code`). An older one is
migrated forward after it is unpacked:

- SQLite: the unpacked copy is migrated before it is renamed into place (nothing else can hold
  it; a failure leaves the target untouched), `migrate_staged`.
- PostgreSQL: the restored database is migrated in place, in one transaction, watched as the
  restore is (`lock_wait`): a lock (the migration lock, a table) held past `lock_timeout`
  cancels and rolls it back, and `MigrationLockTimeout` names the holders, the restored data
  intact at the backup's revision (`migrate_in_place`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

from packaging.version import InvalidVersion, Version
from sqlalchemy.engine import make_url

from ragops import __version__
from ragops.backup import database as dbpart
from ragops.backup.lock_wait import POLL_SECONDS, RestoreLockTimeout, run_watched
from ragops.backup.manifest import Manifest
from ragops.config import Settings
from ragops.db import migrate


class MigrationLockTimeout(RestoreLockTimeout):
    """The restored database's migration forward waited too long for a lock and rolled back:
    the restored data is intact at the backup's schema revision."""


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


async def migrate_staged(
    manifest: Manifest, files: Path, settings: Settings, lock_timeout: float
) -> tuple[str | None, str | None] | None:
    """SQLite: migrate the unpacked copy of the database forward before it is put in place
    (no other process can hold a lock on it, and a failure leaves the target untouched); the
    revisions before and after. None on PostgreSQL (migrated in place, `migrate_in_place`)."""
    if manifest.database.backend != "sqlite":
        return None
    staged = files / manifest.database.file
    scratch = settings.model_copy(
        update={
            "database_url": f"sqlite+aiosqlite:///{staged}",
            "migration_database_url": None,
            "data_dir": files,
        }
    )
    before = await migrate.current_revision(scratch)
    if before == migrate.head_revision():
        return before, before
    await migrate.upgrade(scratch, lock_timeout=lock_timeout)
    await asyncio.to_thread(dbpart.sqlite_checkpoint, staged)
    return before, await migrate.current_revision(scratch)


async def migrate_in_place(
    settings: Settings, lock_timeout: float
) -> tuple[str | None, str | None]:
    """PostgreSQL: migrate the restored database forward in one transaction; no lock (the
    migration lock, or a table a session of a running instance holds) is waited for longer
    than `lock_timeout` seconds: past it the migration is cancelled and rolled back, and
    `MigrationLockTimeout` names the sessions holding it (`lock_wait`). The revisions before
    and after."""
    before = await migrate.current_revision(settings)
    head = migrate.head_revision()
    if before == head:
        return before, before
    application = f"ragops-restore-migrate-{uuid.uuid4().hex[:12]}"  # how the watcher finds it
    # The watcher cancels at `lock_timeout` and names the holders; the session's own
    # lock_timeout, a little later, still bounds the wait should the watcher lose its
    # connection.
    backstop = lock_timeout + 2 * POLL_SECONDS + 1

    async def work() -> None:
        try:
            await migrate.upgrade(settings, lock_timeout=backstop, application=application)
        except Exception as exc:
            if "lock timeout" in str(exc) or "LockNotAvailable" in type(exc).__name__:
                raise _migration_lock_error(before, head)(
                    make_url(settings.owner_database_url).database or "", lock_timeout, []
                ) from exc
            raise dbpart.DatabaseBackupError(
                f"migrating the restored database forward failed: {exc}"
            ) from exc

    await run_watched(
        make_url(settings.owner_database_url),
        application,
        work(),
        lock_timeout,
        _migration_lock_error(before, head),
    )
    return before, await migrate.current_revision(settings)


def _migration_lock_error(
    before: str | None, head: str | None
) -> Callable[[str, float, list[str]], RestoreLockTimeout]:
    def error(database: str, seconds: float, holders: list[str]) -> RestoreLockTimeout:
        who = "; ".join(holders) or "sessions that could not be named (ended since?)"
        return MigrationLockTimeout(
            f"the backup was restored, but migrating database {database} forward from schema "
            f"{before} to {head} waited more than {seconds:g} s for a lock and gave up: the "
            f"migration rolled back and the restored data is intact at schema {before}. "
            f"Held by: {who}. Stop every ragops instance using that database (scale the "
            "service to zero, `ragops stack down`, stop `ragops serve` on every host), or end "
            "those sessions (`ragops db status`, `ragops db kill PID`), then run the restore "
            "again with --force (the target now holds the restored data) to migrate and verify "
            "it, or `ragops db upgrade` against that database to migrate it only; "
            "--lock-timeout SECONDS waits longer"
        )

    return error
