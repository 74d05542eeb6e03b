"""Helpers of the audit tests: throwaway git repositories and fake secrets built at run time.

The fake secrets are assembled from pieces so that this file holds no literal secret for the
repository's own secret scan to find.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "audit test",
    "GIT_AUTHOR_EMAIL": "audit-test@example.invalid",
    "GIT_COMMITTER_NAME": "audit test",
    "GIT_COMMITTER_EMAIL": "audit-test@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` with a fixed test identity and no user config; return stdout."""
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "commit.gpgsign=false", *args],
        env={**os.environ, **GIT_ENV, "HOME": str(repo.parent)},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def init_repo(repo: Path, files: dict[str, str]) -> Path:
    """A new git repository at `repo` whose first commit holds `files` (path -> text)."""
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    commit(repo, files, "first commit")
    return repo


def commit(
    repo: Path, files: dict[str, str], message: str, *, delete: tuple[str, ...] = ()
) -> None:
    """Write `files`, delete `delete`, and commit everything."""
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for name in delete:
        git(repo, "rm", "-q", name)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)


def fake_aws_key() -> str:
    """An access key id of the AWS shape (AKIA + 16 characters); not a real key."""
    return "AK" + "IA" + "QX7T" + "R2WZ" + "M4PL" + "9VNE"


def fake_private_key_block() -> str:
    """A PEM private-key block as a leaked file would hold it (the body is filler)."""
    dashes, label = "-" * 5, "RSA " + "PRIVATE KEY"
    return (
        f"{dashes}BEGIN {label}{dashes}\n"
        "MIIEpAIBAAKCAQEA7bq9x0fillerfillerfillerfillerfiller\n"
        f"{dashes}END {label}{dashes}\n"
    )
