"""A real HTTP server on loopback that records every POST it receives (OTLP exports, Sentry
envelopes), decompressing gzip bodies, for the tracing, Sentry and logging tests."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    """One POST: its path, headers (names in lower case) and (decompressed) body."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class CaptureSink:
    """The recording server; `url` is its base URL."""

    url: str
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def posts(self, path_part: str = "") -> list[Received]:
        with self.lock:
            return [r for r in self.received if path_part in r.path]

    def wait_for(self, accept: Callable[[Received], bool], timeout: float = 15.0) -> list[Received]:
        """The posts `accept` likes, waiting until there is one (or failing)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [r for r in self.posts() if accept(r)]
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError(f"nothing accepted arrived in {timeout} s; got {len(self.posts())}")


@contextmanager
def capture_sink() -> Iterator[CaptureSink]:
    """Serve a `CaptureSink` on a free loopback port for the duration of the block."""
    sink: CaptureSink | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server naming
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            if self.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            assert sink is not None
            with sink.lock:
                sink.received.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sink = CaptureSink(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
