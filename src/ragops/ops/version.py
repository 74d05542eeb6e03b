"""What is running: version, git commit, build time, image tag and the database's migration
revision next to the newest one this build ships, which is what a rollback checks.

Commit, build time and image tag come from settings (`RAGOPS_GIT_COMMIT`, `RAGOPS_BUILD_TIME`,
`RAGOPS_IMAGE_TAG`, set by the image build). Without a configured commit, a source checkout
asks `git rev-parse HEAD` once.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess  # nosec B404 - one fixed git command, no shell, no user input
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext

from ragops import __version__
from ragops.config import Settings
from ragops.db import Database, migrate
from ragops.observability.logging import redact_text

PACKAGE_DIR = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class BuildInfo:
    """The identity of the running build."""

    version: str
    commit: str | None
    build_time: str | None
    image_tag: str | None

    def as_dict(self) -> dict[str, str | None]:
        """The fields as JSON-ready values."""
        return asdict(self)


def _checkout_root(start: Path) -> Path | None:
    """The git checkout holding `start` (the source tree), searched a few levels up."""
    for candidate in [start, *start.parents][:4]:
        if (candidate / ".git").exists():
            return candidate
    return None


@lru_cache(maxsize=1)
def git_commit(start: Path = PACKAGE_DIR) -> str | None:
    """`git rev-parse HEAD` of the checkout the package runs from, or None (asked once)."""
    root = _checkout_root(start)
    git = shutil.which("git")
    if root is None or git is None:
        return None
    try:
        done = subprocess.run(  # nosec B603 - fixed argument list, no shell
            [git, "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=3,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and len(commit) >= 7 else None


def build_info(settings: Settings) -> BuildInfo:
    """The build identity from settings, the commit falling back to the checkout's HEAD."""
    return BuildInfo(
        version=__version__,
        commit=settings.git_commit or git_commit(),
        build_time=settings.build_time,
        image_tag=settings.image_tag,
    )


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    """The newest migration this build ships (read from the packaged scripts once)."""
    return migrate.head_revision()


async def migration_status(db: Database | None, timeout: float) -> dict[str, Any]:
    """`{"current", "head", "up_to_date", "error"}` for the database behind `db`."""
    head = head_revision()
    current: str | None = None
    error: str | None = None
    if db is None:
        error = "the service has not started"
    else:
        try:
            async with asyncio.timeout(timeout):
                async with db.engine.connect() as connection:

                    def read(sync_connection: Any) -> str | None:
                        return MigrationContext.configure(sync_connection).get_current_revision()

                    current = await connection.run_sync(read)
        except TimeoutError:
            error = f"timed out after {timeout:g} s"
        except Exception as exc:
            error = redact_text(f"{type(exc).__name__}: {exc}")[:300]
    return {
        "current": current,
        "head": head,
        "up_to_date": error is None and current == head,
        "error": error,
    }
