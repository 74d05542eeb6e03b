"""Helpers of the `ragops backup` commands: the progress bar and running a coroutine with the
backup errors turned into one line and exit 1."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ragops.cli.runner import console, fail

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


def run_work(work: Awaitable[T]) -> T:
    """Run `work`; a refusal or an invalid backup becomes one line and exit 1."""
    from ragops.backup.archive import InvalidBackup
    from ragops.backup.crypto import BackupCryptoError
    from ragops.backup.database import DatabaseBackupError
    from ragops.backup.restore import RestoreRefused
    from ragops.backup.service import BackupError
    from ragops.backup.vectors import VectorBackupError
    from ragops.providers.vectorstore.base import VectorStoreError

    async def main() -> T:
        return await work

    try:
        return asyncio.run(main())
    except InvalidBackup as exc:
        fail("the backup is invalid and was refused:\n  " + "\n  ".join(exc.problems))
    except RestoreRefused as exc:
        fail(f"refused: {exc}")
    except (BackupError, BackupCryptoError, DatabaseBackupError, VectorBackupError) as exc:
        fail(str(exc))
    except VectorStoreError as exc:
        fail(exc.message)
    except OSError as exc:
        fail(f"{type(exc).__name__}: {exc}")
