"""The embedded store's process lock: one ragops process per Qdrant Edge store.

The engine opens its files for one process; a second open fails and can then break the
first process's next flush. So `EdgeVectorStore` takes `<data_dir>/edge/ragops.lock`
(`flock`, holding the owner's pid) before it opens anything, and a second ragops process gets
a clear `VectorStoreError` naming the holder. Backups and restores take the same lock.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from ragops.providers.vectorstore.base import VectorStoreError

LOCK_NAME = "ragops.lock"


class StoreLock:
    """An exclusive `flock` on `path` holding this process's pid, taken without waiting."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, store: Path) -> None:
        """Take the lock or raise `VectorStoreError` naming the process that holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise VectorStoreError(f"cannot lock the embedded store at {store}: {exc}") from exc
            raise VectorStoreError(
                f"the embedded store at {store} is in use by another ragops process "
                f"(pid {holder}); stop it, or use the server's API (--url), or point "
                "RAGOPS_QDRANT_URL at a Qdrant server"
            ) from exc
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (the file stays; its content is stale until the next holder)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
