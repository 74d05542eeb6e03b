"""Slow clients over real sockets: a request head or body that trickles in is cut at its
deadline, and one address cannot hold more than its share of connections."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from ragops.main import create_app
from ragops.security.slow_clients import uvicorn_options
from tests.conftest import free_port, make_settings


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    settings = make_settings(
        tmp_path_factory.mktemp("slow") / "var",
        auth_enabled=False,
        header_timeout_seconds=1.0,
        body_timeout_seconds=1.5,
        max_connections_per_address=4,
    )
    chosen = free_port()
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=chosen,
        log_config=None,
        lifespan="on",
        **uvicorn_options(settings),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield chosen
    server.should_exit = True
    thread.join(30)


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock


def _read_until_closed(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes; and how long that took."""
    started = time.monotonic()
    received = b""
    while True:
        chunk = sock.recv(4096)  # raises TimeoutError when the server keeps the socket open
        if not chunk:
            return received, time.monotonic() - started
        received += chunk


def test_partial_headers_are_cut_with_408(port: int) -> None:
    with _connect(port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: ragops\r\nX-Slow: 1\r\n")
        answer, took = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert took < 4


def test_a_silent_connection_is_cut(port: int) -> None:
    with _connect(port) as sock:
        answer, took = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408") and took < 4


def test_a_trickled_body_is_cut(port: int) -> None:
    with _connect(port) as sock:
        head = b"POST /v1/chat HTTP/1.1\r\nHost: ragops\r\nContent-Type: application/json\r\n"
        sock.sendall(head + b"Content-Length: 1000\r\n\r\n{")
        time.sleep(0.5)
        sock.sendall(b" ")  # still trickling: the deadline counts from the head, not per byte
        try:
            answer, took = _read_until_closed(sock)
        except ConnectionResetError:
            answer, took = b"", 0.0
    assert b"200 OK" not in answer
    assert took < 3


def test_connections_per_address_are_capped(port: int) -> None:
    held = [_connect(port) for _ in range(4)]
    try:
        time.sleep(0.2)
        with _connect(port) as extra:
            answer, took = _read_until_closed(extra)
        assert answer.startswith(b"HTTP/1.1 503") and took < 1
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    with _connect(port) as again:
        again.sendall(b"GET /healthz HTTP/1.1\r\nHost: ragops\r\nConnection: close\r\n\r\n")
        answer, _ = _read_until_closed(again)
    assert answer.startswith(b"HTTP/1.1 200"), answer


@pytest.mark.parametrize("pieces", [1, 8])
def test_a_request_head_over_16_kib_is_refused_with_431(port: int, pieces: int) -> None:
    """The head limit holds whether the head arrives in one read (well under the socket's
    64 KiB) or in several; a head just under it is served."""
    big = b"GET /healthz HTTP/1.1\r\nHost: ragops\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n"
    with _connect(port) as sock:
        step = len(big) // pieces + 1
        try:
            for start in range(0, len(big), step):
                sock.sendall(big[start : start + step])
                time.sleep(0.02)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the whole head was sent: the answer is already there
        answer, _ = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:80]

    fits = b"GET /healthz HTTP/1.1\r\nHost: ragops\r\nX-Big: " + b"a" * 15_000 + b"\r\n"
    with _connect(port) as sock:
        sock.sendall(fits + b"Connection: close\r\n\r\n")
        answer, _ = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:80]
