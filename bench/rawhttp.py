"""A minimal HTTP/1.1 keep-alive client on asyncio streams, the load generator of
bench/load.py.

The load generator shares the 2 cores with the server it measures: httpx spends more CPU on
a request than the bare endpoint does to answer it, so its own cost capped every phase's
throughput (and, by spacing the requests out, raised the server's CPU a request). This
client writes a request and reads the answer with a handful of calls (status line, headers,
then the body by `Content-Length`, by chunks, or up to the end of the connection) over one
connection per user, kept open between requests and opened again after a `Connection:
close` or an error. TLS for https:// URLs; no redirects, no compression, no proxies.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

MAX_HEAD_BYTES = 64 * 1024


class ProtocolError(Exception):
    """The server's answer was not HTTP/1.1 this client can read."""


@dataclass(frozen=True, slots=True)
class Answer:
    """One response: its status, headers (names in lower case) and body."""

    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    """One keep-alive connection to the origin of `url`; requests name their own path."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.host = parts.hostname
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        authority = parts.netloc.rsplit("@", 1)[-1]
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self._fixed = f"Host: {authority}\r\n{extra}"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, target: str, *, json_body: Any = None, body: bytes | None = None
    ) -> Answer:
        """Send one request and read its whole answer. A connection that fails is closed
        (the next request opens another) and the error raised."""
        if json_body is not None:
            body = json.dumps(json_body).encode()
        head = f"{method} {target} HTTP/1.1\r\n{self._fixed}"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        if self._writer is None:
            await self._open()
        assert self._reader is not None and self._writer is not None
        try:
            self._writer.write(head.encode("latin-1") + b"\r\n" + (body or b""))
            await self._writer.drain()
            answer = await self._read(self._reader, method)
        except BaseException:
            self.close()
            raise
        if answer.headers.get("connection", "").lower() == "close":
            self.close()
        return answer

    async def _open(self) -> None:
        context = ssl.create_default_context() if self.tls else None
        self._reader, self._writer = await asyncio.open_connection(
            self.host, self.port, ssl=context, limit=MAX_HEAD_BYTES
        )

    @staticmethod
    async def _read(reader: asyncio.StreamReader, method: str) -> Answer:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError as exc:
            raise ProtocolError("response head too long") from exc
        lines = head.decode("latin-1").split("\r\n")
        status_line = lines[0].split(" ", 2)
        if len(status_line) < 2 or not status_line[0].startswith("HTTP/1."):
            raise ProtocolError(f"not an HTTP/1.x status line: {lines[0]!r}")
        status = int(status_line[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return Answer(status, headers, b"")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return Answer(status, headers, await _chunks(reader))
        length = headers.get("content-length")
        if length is not None:
            return Answer(status, headers, await reader.readexactly(int(length)))
        headers["connection"] = "close"  # the body runs to the end of the connection
        return Answer(status, headers, await reader.read())

    def close(self) -> None:
        """Close the connection (a later request opens a new one)."""
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


async def _chunks(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return bytes(body)
        body += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise ProtocolError("chunk not followed by CRLF")
