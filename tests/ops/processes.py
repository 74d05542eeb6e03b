"""Helpers of the end-to-end alerting test: external processes, a loopback receiver, polling.

- `Process`: a command run with its output in a log file; `stop()` terminates it (then kills
  it if it does not exit), `tail()` shows the end of its log when a test fails.
- `Receiver`: a threaded HTTP server on 127.0.0.1 that records every POST (path, headers,
  JSON body) and answers as the real services do (PagerDuty Events v2: 202; chat and
  webhooks: 200 `ok`). It stands in for PagerDuty, the chat webhook and the service webhook.
- `wait_until`: poll a check until it returns something truthy, or fail at a deadline with the
  processes' log tails in the message.
- `off_loop`: run a function on a worker thread, so `asyncio.run` inside it works even when a
  session fixture keeps an event loop running on the main thread.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

TAIL_LINES = 40
STOP_SECONDS = 10.0


class Process:
    """One external process, its stdout and stderr in `log`."""

    def __init__(self, name: str, argv: Sequence[str], log: Path, cwd: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        with log.open("wb") as out:
            self.popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=cwd
            )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        """Terminate (SIGTERM), then kill if it has not exited within `STOP_SECONDS`."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(STOP_SECONDS)

    def tail(self, lines: int = TAIL_LINES) -> str:
        """The last lines of the log, under a header naming the process and its exit code."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        end = "\n".join(text.splitlines()[-lines:])
        return f"--- {self.name} (exit code {self.popen.poll()}), last {lines} lines ---\n{end}"


def tails(processes: Sequence[Process]) -> str:
    return "\n".join(process.tail() for process in processes)


@dataclass(frozen=True)
class Delivery:
    """One POST the receiver got."""

    path: str
    headers: dict[str, str]
    body: Any


class Receiver:
    """Records POSTed JSON bodies on a loopback port; `url` is its base URL."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
                receiver._record(Delivery(self.path, dict(self.headers.items()), body))
                if self.path.startswith("/v2/enqueue"):
                    status, reply = 202, b'{"status":"success","message":"Event processed"}'
                else:
                    status, reply = 200, b"ok"
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _record(self, delivery: Delivery) -> None:
        with self._lock:
            self._deliveries.append(delivery)

    def deliveries(self, path: str | None = None) -> list[Delivery]:
        """Everything received so far (only at `path` when given), oldest first."""
        with self._lock:
            return [d for d in self._deliveries if path is None or d.path == path]

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(STOP_SECONDS)


def wait_until(
    check: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    processes: Sequence[Process] = (),
    interval: float = 0.25,
) -> T:
    """The first truthy result of `check`, polled until `timeout` seconds have passed. Fails
    early when one of `processes` has exited; exceptions of `check` count as "not yet"."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        for process in processes:
            if not process.alive():
                raise AssertionError(f"{process.name} exited while waiting for {what}")
        try:
            result = check()
        except Exception as exc:  # not ready yet (connection refused, missing key, ...)
            last_error, result = exc, None
        if result:
            return result
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{detail}")
        time.sleep(interval)


def off_loop(function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` on a worker thread (its own `asyncio.run` needs no running loop)."""
    with ThreadPoolExecutor(1) as worker:
        return worker.submit(function, *args).result()
