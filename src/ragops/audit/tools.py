"""Running the external scanners: the interpreter's own copy of each tool, bounded in time.

Each tool runs as `python -m <module>` with the interpreter that runs ragops, so the audit
uses the versions pinned in `requirements.lock`, never whatever is first on PATH.
"""

from __future__ import annotations

import os

# Running the scanners is this module's job: fixed argument lists, never a shell.
import subprocess  # nosec B404
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ToolRun:
    """The outcome of one tool run; `timed_out` when it was stopped at its time limit."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False

    def stderr_tail(self, lines: int = 5) -> str:
        """The last few non-empty lines of stderr, for a report."""
        kept = [line for line in self.stderr.splitlines() if line.strip()]
        return "\n".join(kept[-lines:])


def run_tool(
    module: str,
    args: Sequence[str],
    *,
    timeout: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> ToolRun:
    """Run `python -m module args...`, capturing its output, stopping it after `timeout` s."""
    argv = [sys.executable, "-m", module, *args]
    full_env = {**os.environ, **(env or {})}
    try:
        done = subprocess.run(  # nosec B603
            argv,
            cwd=cwd,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        return ToolRun(argv, -1, _text(exc.stdout), _text(exc.stderr), timed_out=True)
    return ToolRun(argv, done.returncode, done.stdout, done.stderr)


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value
