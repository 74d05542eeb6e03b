"""The announcement of a running `ragops serve`: `<data_dir>/server.json` holds its local URL
and process id while it runs. The CLI reads it to go through a live server's API, and a restore
reads it to refuse replacing the data under a running server; so it sits below both.

A file whose process is gone (a killed server) is ignored.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

STATE_FILE = "server.json"


@dataclass(frozen=True)
class ServerState:
    """A `ragops serve` process on this data directory."""

    url: str
    pid: int
    started_at: float


def state_path(data_dir: Path) -> Path:
    """Where the server of `data_dir` announces itself."""
    return data_dir / STATE_FILE


def local_url(host: str, port: int) -> str:
    """The URL a client on this machine uses for a server bound to `host`:`port`."""
    if host in ("", "0.0.0.0"):  # noqa: S104 - mapping a wildcard bind to loopback
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs (ours or another user's)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_state(data_dir: Path) -> ServerState | None:
    """The live server of `data_dir`, or None (no file, an unreadable one, or a dead process)."""
    try:
        raw = json.loads(state_path(data_dir).read_text(encoding="utf-8"))
        state = ServerState(url=str(raw["url"]), pid=int(raw["pid"]), started_at=raw["started_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return state if pid_alive(state.pid) and state.pid != os.getpid() else None


def write_state(data_dir: Path, url: str) -> Path:
    """Announce this process as the server of `data_dir` (atomically replaced)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = state_path(data_dir)
    body = {"url": url, "pid": os.getpid(), "started_at": time.time()}
    partial = path.with_name(f".{STATE_FILE}.{os.getpid()}")
    partial.write_text(json.dumps(body) + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def remove_state(data_dir: Path) -> None:
    """Withdraw the announcement, if it is still this process's."""
    path = state_path(data_dir)
    try:
        if int(json.loads(path.read_text(encoding="utf-8"))["pid"]) == os.getpid():
            path.unlink()
    except (OSError, ValueError, KeyError, TypeError):
        pass
