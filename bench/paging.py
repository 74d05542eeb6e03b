"""Paging latency: seconds from an Alertmanager webhook delivery to the page at the chat
receiver, through a served ragops (SQLite, the escalation engine on its timer).

    python bench/paging.py [--incidents 20]

Starts the app with uvicorn on a loopback port, a loopback HTTP receiver as the
Slack-compatible webhook, posts one firing group per incident to `/v1/ops/alerts/webhook` and
times each page's arrival. Prints the median, p95 and maximum (the target: < 60 s).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from ragops.config import Settings
from ragops.main import create_app

TOKEN = "bench-webhook-token-0123456789"


def receiver() -> tuple[ThreadingHTTPServer, dict[str, float]]:
    """A loopback chat webhook recording when each incident's page arrived."""
    arrived: dict[str, float] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            for word in body.split():
                if word.startswith("bench-"):
                    arrived.setdefault(word.strip("*:"), time.perf_counter())
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, arrived


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=20)
    args = parser.parse_args()
    chat, arrived = receiver()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            data_dir=Path(tmp),
            demo_corpus=False,
            bootstrap_api_key=False,
            log_level="WARNING",
            alert_webhook_token=TOKEN,
            page_slack_webhook_url=f"http://127.0.0.1:{chat.server_address[1]}/chat",
        )
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None)
        )
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        sent: dict[str, float] = {}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for _ in range(args.incidents):
                name = f"bench-{uuid.uuid4().hex[:8]}"
                alert = {
                    "status": "firing",
                    "labels": {"alertname": name, "severity": "P1", "service": "ragops"},
                    "annotations": {"summary": "bench"},
                    "startsAt": "2026-12-03T10:00:00Z",
                    "fingerprint": uuid.uuid4().hex[:16],
                }
                body = {"version": "4", "groupKey": name, "status": "firing", "alerts": [alert]}
                sent[name] = time.perf_counter()
                response = client.post(
                    "/v1/ops/alerts/webhook",
                    json=body,
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
                response.raise_for_status()
        deadline = time.monotonic() + 120
        while len(arrived) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.05)
        server.should_exit = True
    latencies = sorted(arrived[name] - sent[name] for name in sent if name in arrived)
    missing = len(sent) - len(latencies)
    p95 = latencies[max(int(len(latencies) * 0.95) - 1, 0)] if latencies else float("nan")
    print(f"incidents: {len(sent)}, paged: {len(latencies)}, missing: {missing}")
    if latencies:
        print(
            f"webhook -> page: median {statistics.median(latencies):.3f} s, "
            f"p95 {p95:.3f} s, max {latencies[-1]:.3f} s (target < 60 s)"
        )


if __name__ == "__main__":
    main()
