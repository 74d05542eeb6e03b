"""The load benchmark's HTTP/1.1 client (bench/rawhttp.py) against a small server on
loopback: bodies by length, by chunks and to the end of the connection; one connection kept
open across requests, a new one after `Connection: close`."""

from __future__ import annotations

import asyncio
import json

from tests.unit.bench import load_bench

rawhttp = load_bench("rawhttp")

ANSWERS = {
    "/length": b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-Cache: hit-exact\r\n\r\n{"a": true}',
    "/chunks": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"4\r\nwiki\r\n5;x=1\r\npedia\r\n0\r\n\r\n",
    "/close": b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\nbusy",
}


async def test_reads_each_framing_and_keeps_the_connection() -> None:
    connections = 0
    received: list[tuple[str, bytes]] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while not reader.at_eof():
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            lines = head.decode().split("\r\n")
            headers = dict(line.split(": ", 1) for line in lines[1:] if line)
            body = await reader.readexactly(int(headers.get("Content-Length", "0")))
            path = lines[0].split(" ")[1]
            received.append((path, body))
            writer.write(ANSWERS[path])
            await writer.drain()
            if path == "/close":
                writer.close()
                return
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = rawhttp.Connection(f"http://127.0.0.1:{port}/ignored", {"X-API-Key": "k"})
    try:
        first = await client.request("POST", "/length", json_body={"question": "q"})
        assert (first.status, first.body, first.headers["x-cache"]) == (
            200,
            b'{"a": true}',
            "hit-exact",
        )
        chunked = await client.request("GET", "/chunks")
        assert (chunked.status, chunked.body) == (200, b"wikipedia")
        assert connections == 1  # kept open between requests
        closed = await client.request("GET", "/close")
        assert (closed.status, closed.body) == (503, b"busy")
        again = await client.request("GET", "/length")
        assert again.status == 200
        assert connections == 2  # reopened after Connection: close
    finally:
        client.close()
        server.close()
        await server.wait_closed()
    assert received[0] == ("/length", json.dumps({"question": "q"}).encode())
