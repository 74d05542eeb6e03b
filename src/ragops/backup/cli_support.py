"""Helpers of the `ragops backup` commands: the progress bar and running a coroutine with the
backup errors turned into one line and exit 1."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING, TypeVar

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ragops.cli.runner import console, fail

if TYPE_CHECKING:
    from ragops.backup.restore import RestoreFailed

T = TypeVar("T")


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def run_work(work: Awaitable[T], *, restore_options: str = "--force") -> T:
    """Run `work`; a refusal, an invalid backup or a failed restore becomes one line and exit 1
    (`restore_options`: how `ragops backup restore` named the target, to put a safety backup
    back with)."""
    from ragops.backup.archive import InvalidBackup, UnreadableBackup
    from ragops.backup.restore import RestoreFailed, RestoreRefused

    async def main() -> T:
        return await work

    try:
        return asyncio.run(main())
    except UnreadableBackup as exc:
        fail(str(exc))
    except InvalidBackup as exc:
        fail("the backup is invalid and was refused:\n  " + "\n  ".join(exc.problems))
    except RestoreRefused as exc:
        fail(f"refused: {exc}")
    except RestoreFailed as exc:
        fail(restore_failed_line(exc, restore_options))
    except Exception as exc:
        reason = known_error(exc)
        if reason is None:
            raise
        fail(reason)


def known_error(exc: BaseException) -> str | None:
    """The one-line message of a backup, store or file error; None for anything else."""
    from ragops.backup.crypto import BackupCryptoError
    from ragops.backup.database import DatabaseBackupError
    from ragops.backup.service import BackupError
    from ragops.backup.vectors import VectorBackupError
    from ragops.providers.vectorstore.base import VectorStoreError

    if isinstance(exc, BackupError | BackupCryptoError | DatabaseBackupError | VectorBackupError):
        return str(exc)
    if isinstance(exc, VectorStoreError):
        return exc.message
    if isinstance(exc, OSError) and exc.errno is not None:
        from ragops.backup.fs_errors import describe

        return describe(exc)
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError):
        # the driver's own line (a database that does not exist, a refused login), never the URL
        reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else ""
        return f"the database refused the connection: {reason or type(exc.orig).__name__}"
    return None


def restore_failed_line(exc: RestoreFailed, restore_options: str) -> str:
    """What failed, what was kept of the target, and how to put it back."""
    cause = exc.cause
    reason = known_error(cause) or f"{type(cause).__name__}: {cause}"
    reason = reason.strip().splitlines()[0] if reason.strip() else type(cause).__name__
    path = exc.safety_backup
    if exc.safety == "raw":
        return (
            f"the restore failed after the raw safety copy: {reason}; the target may be half "
            f"replaced, and the files it held before are kept unchanged in {path}: its "
            "README.txt says how to put them back"
        )
    if path is None:
        return (
            f"the restore failed: {reason}; the target may be half replaced, and no safety "
            "copy of it was taken (--no-safety-backup)"
        )
    return (
        f"the restore failed after the safety backup: {reason}; the data the target held "
        f"before is in the safety backup {path}: put it back with "
        f"`ragops backup restore {path} {restore_options}`"
    )
