"""CPU of an exact cache hit of `POST /v1/chat` in process: the application called directly as an
ASGI callable (no socket, no HTTP client), 32 callers at once, as `bench/load.py`'s cached
phase asks, so code changes on the hit's path can be compared without the noise of a shared
machine's HTTP load (each figure is process CPU, which other jobs disturb far less).

    python bench/hit_cpu.py [--callers 32] [--hits 6000] [--rounds 3] [--log-level WARNING]
                            [--log-format console|json] [--time-access-line] [--api-key]

The app runs on embedded defaults in a temporary folder (SQLite, the embedded vector store,
API keys off, rate limits lifted as in `bench/load.py`); five documents of `docs/` are
ingested, eight questions answered once (extractive), then the ones answered from the
documents (a refusal is not cached) asked again and again. Every
middleware runs (request id, body limit, metrics and access log, rate limits, security
headers, idempotency); HTTP parsing does not. Prints microseconds of process CPU a hit for
each round; `--log-level INFO` writes each request's access line to /dev/null, in the
benchmarked environment's console format or, with `--log-format json`, production's.
`--time-access-line` also prints the mean thread CPU of the access-log call itself, timed
around each call (the timer adds about 1 us a hit to the figures by round). `--api-key`
turns API keys on and sends one (a `chat`+`ingest` key made at start), so each hit also reads its
key's row, as a deployment's requests do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from load import QUESTIONS, benchmarked_settings  # the load benchmark's questions and server

ROOT = Path(__file__).resolve().parent.parent
DOCS = ["api.md", "caching.md", "scaling.md", "deployment.md", "ARCHITECTURE.md"]


async def call(
    app: Any, method: str, path: str, body: bytes, headers: list[Any]
) -> tuple[int, bytes]:
    """One request straight into the ASGI app: (status, body)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"content-length", str(len(body)).encode()), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


class TimedLine:
    """The access logger, with the thread CPU of each `info` call added up."""

    def __init__(self, logger: Any) -> None:
        self.logger = logger
        self.calls = 0
        self.nanoseconds = 0

    def info(self, event: str, **fields: Any) -> None:
        started = time.thread_time_ns()
        self.logger.info(event, **fields)
        self.nanoseconds += time.thread_time_ns() - started
        self.calls += 1

    def warning(self, event: str, **fields: Any) -> None:
        self.logger.warning(event, **fields)


async def run(args: argparse.Namespace) -> list[float]:
    from ragops.config import Settings
    from ragops.main import create_app
    from ragops.observability import http_metrics

    work = Path(tempfile.mkdtemp(prefix="ragops-hitcpu-"))
    os.environ.update(benchmarked_settings(work, args.log_level))
    os.environ["RAGOPS_LOG_FORMAT"] = args.log_format
    if args.api_key:
        os.environ["RAGOPS_AUTH_ENABLED"] = "true"
    app = create_app(Settings())
    if args.time_access_line:
        http_metrics.access_logger = TimedLine(http_metrics.access_logger)
    sink = open(os.devnull, "w")  # noqa: SIM115 (held for the whole run)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sink)
    json_headers = [(b"content-type", b"application/json")]
    async with app.router.lifespan_context(app):
        auth_headers = []
        if args.api_key:
            from ragops.auth import service

            created = await service.create_key(
                db=app.state.runtime.db, tenant_id="default", scopes=["chat", "ingest"]
            )
            auth_headers = [(b"authorization", f"Bearer {created.key}".encode())]
            json_headers += auth_headers
        files = [("files", (n, (ROOT / "docs" / n).read_bytes(), "text/markdown")) for n in DOCS]
        upload = httpx.Request("POST", "http://bench/v1/documents", files=files)
        upload.read()
        headers = [(b"content-type", upload.headers["content-type"].encode()), *auth_headers]
        status, text = await call(app, "POST", "/v1/documents", upload.content, headers)
        if status != 200:
            raise SystemExit(f"error: ingest answered {status}: {text[:200]!r}")
        bodies = [json.dumps({"question": q}).encode() for q in QUESTIONS]
        for body in bodies:
            status, text = await call(app, "POST", "/v1/chat", body, json_headers)
            if status != 200:
                raise SystemExit(f"error: chat answered {status}: {text[:200]!r}")
        hits = []  # a refusal ("could not find anything") is not cached: keep the answered ones
        for body in bodies:
            status, text = await call(app, "POST", "/v1/chat", body, json_headers)
            if status == 200 and b'"cache":"hit-exact"' in text:
                hits.append(body)
        if len(hits) < 2:
            raise SystemExit(f"error: only {len(hits)} of the questions are cached")
        bodies = hits
        per_caller = max(1, args.hits // args.callers)

        async def caller(n: int) -> None:
            for i in range(per_caller):
                status, text = await call(
                    app, "POST", "/v1/chat", bodies[(n + i) % len(bodies)], json_headers
                )
                if status != 200 or b'"cache":"hit-exact"' not in text:
                    raise SystemExit(f"error: not an exact hit: {status} {text[:200]!r}")

        rounds = []
        await asyncio.gather(*(caller(n) for n in range(args.callers)))  # warm-up round
        for _ in range(args.rounds):
            started = time.process_time()
            await asyncio.gather(*(caller(n) for n in range(args.callers)))
            rounds.append((time.process_time() - started) / (per_caller * args.callers) * 1e6)
    return rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--callers", type=int, default=32)
    parser.add_argument("--hits", type=int, default=6000, help="hits a round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument("--log-format", choices=("console", "json"), default="console")
    parser.add_argument("--time-access-line", action="store_true")
    parser.add_argument("--api-key", action="store_true", help="API keys on: send one")
    args = parser.parse_args()
    if args.callers < 1 or args.hits < 1 or args.rounds < 1:
        raise SystemExit("error: --callers, --hits and --rounds must be >= 1")
    rounds = asyncio.run(run(args))
    print(
        f"{args.callers} callers, log level {args.log_level} ({args.log_format})"
        + (", with an API key" if args.api_key else "")
        + ": us of process CPU a hit, by round: "
        + ", ".join(f"{r:.0f}" for r in rounds)
        + f" (load average {os.getloadavg()[0]:.2f})",
        file=sys.stdout,
    )
    from ragops.observability import http_metrics

    timed = http_metrics.access_logger
    if isinstance(timed, TimedLine) and timed.calls:
        print(
            f"access-log call: {timed.nanoseconds / timed.calls / 1000:.1f} us of thread CPU"
            f" (mean of {timed.calls})"
        )


if __name__ == "__main__":
    main()
