"""Opening a backup file: decrypt when needed, unpack safely, check every checksum.

`open_backup` yields the manifest and the unpacked directory only when the archive is intact:
readable, its manifest present and consistent, every file listed and none changed. Otherwise it
raises `InvalidBackup` with every problem found, and a restore never starts; a file that cannot
be read at all (missing, a folder, no permission) raises `UnreadableBackup`, which names it
and the OS reason.
"""

from __future__ import annotations

import asyncio
import json
import tarfile
import tempfile
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from pydantic import ValidationError

from ragops.backup import crypto
from ragops.backup.fs_errors import describe, os_reason
from ragops.backup.manifest import MANIFEST_NAME, Manifest, checksum_problems


class InvalidBackup(Exception):
    """The file is not an intact backup; `problems` says what is wrong."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class UnreadableBackup(InvalidBackup):
    """The backup file cannot be read at all (missing, a folder, no permission); the message
    names it and the OS reason."""


def _readable(path: Path) -> None:
    """`UnreadableBackup` unless `path` is a file this process can open."""
    if path.is_dir():
        raise UnreadableBackup([f"cannot read the backup {path}: it is a directory"])
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise UnreadableBackup([f"cannot read the backup {path}: {os_reason(exc)}"]) from None


def _unpack(path: Path, key: bytes | None, into: Path) -> Path:
    """Decrypt (if needed) and unpack `path` into `into`; the directory holding the files."""
    archive = path
    if crypto.is_encrypted(path):
        if key is None:
            raise InvalidBackup(["the backup is encrypted and RAGOPS_BACKUP_KEY is not set"])
        archive = into / "archive.tar.gz"
        try:
            crypto.decrypt_file(path, archive, key)
        except crypto.BackupCryptoError as exc:
            raise InvalidBackup([str(exc)]) from exc
    files = into / "files"
    files.mkdir()
    try:
        with tarfile.open(archive, "r:*") as tar:  # gzip now, uncompressed before
            tar.extractall(files, filter="data")
    except OSError as exc:
        if exc.errno is None:  # a damaged gzip stream (BadGzipFile)
            raise InvalidBackup([f"not a readable backup archive: {exc}"]) from exc
        raise UnreadableBackup([f"cannot unpack the backup {path}: {describe(exc)}"]) from exc
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise InvalidBackup([f"not a readable backup archive: {exc}"]) from exc
    finally:
        if archive != path:
            archive.unlink(missing_ok=True)
    return files


def read_manifest(files: Path) -> Manifest:
    """The manifest of an unpacked backup, or `InvalidBackup`."""
    path = files / MANIFEST_NAME
    if not path.is_file():
        raise InvalidBackup(["no manifest: the backup is incomplete"])
    try:
        return Manifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, ValidationError) as exc:
        raise InvalidBackup([f"the manifest is unreadable: {str(exc)[:200]}"]) from exc


@asynccontextmanager
async def open_backup(
    path: Path, key: bytes | None, scratch: Path | None = None
) -> AsyncIterator[tuple[Manifest, Path]]:
    """The manifest and unpacked files of an intact backup (removed on exit)."""
    _readable(path)
    with tempfile.TemporaryDirectory(prefix=".ragops-restore-", dir=scratch) as tmp:
        files = await asyncio.to_thread(_unpack, path, key, Path(tmp))
        manifest = read_manifest(files)
        problems = manifest.problems()
        problems += await asyncio.to_thread(checksum_problems, manifest, files)
        if problems:
            raise InvalidBackup(problems)
        yield manifest, files
