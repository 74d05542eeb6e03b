"""First start benchmark: how soon a fresh `ragops serve` answers, and when the demo corpus is in.

    python bench/first_start.py [--json] [--runs N] [--corpus docs]

Each run starts `ragops serve` as `make run` does, on an empty temporary data directory and a
free loopback port, with the demo corpus on (the checkout's docs/ by default), and polls every
50 ms: the seconds from launch to the first `200` from `/healthz`, and to the first `200` from
`/readyz` (the demo corpus ingested). It also times `ragops --help`. Goals: `/healthz` within
5 s, the demo corpus ready within 30 s, `--help` within 1 s.

`--json` prints `{"runs": [{"healthz_seconds", "ready_seconds", "documents"}...],
"help_seconds": S}`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
RAGOPS = str(Path(sys.executable).with_name("ragops"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def one_start(corpus: Path, timeout: float) -> dict[str, Any]:
    """Start a server on a fresh data directory; the seconds to healthz and to ready."""
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {
            **os.environ,
            "RAGOPS_DATA_DIR": str(Path(tmp) / "var"),
            "RAGOPS_PORT": str(port),
            "RAGOPS_DEMO_CORPUS": "true",
            "RAGOPS_DEMO_CORPUS_PATH": str(corpus),
            "RAGOPS_LOG_LEVEL": "WARNING",
        }
        url = f"http://127.0.0.1:{port}"
        started = time.perf_counter()
        process = subprocess.Popen(
            [RAGOPS, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        healthz: float | None = None
        ready: float | None = None
        try:
            with httpx.Client(base_url=url, timeout=5) as client:
                while ready is None and time.perf_counter() - started < timeout:
                    if process.poll() is not None:
                        raise SystemExit("ragops serve exited")
                    try:
                        if healthz is None and client.get("/healthz").status_code == 200:
                            healthz = time.perf_counter() - started
                        if healthz is not None and client.get("/readyz").status_code == 200:
                            ready = time.perf_counter() - started
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.05)
                documents = None
                if ready is not None:
                    key = _admin_key(env)
                    listing = client.get(
                        "/v1/documents", headers={"Authorization": f"Bearer {key}"}
                    ).json()
                    documents = listing["total"]
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    return {"healthz_seconds": healthz, "ready_seconds": ready, "documents": documents}


def _admin_key(env: dict[str, str]) -> str:
    created = subprocess.run(
        [RAGOPS, "keys", "create", "--scopes", "chat", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return str(json.loads(created.stdout)["key"])


def help_seconds() -> float:
    """The best of three `ragops --help` runs, in seconds."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([RAGOPS, "--help"], capture_output=True, check=True)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--corpus", type=Path, default=ROOT / "docs")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    runs = [one_start(args.corpus.resolve(), args.timeout) for _ in range(args.runs)]
    result = {"runs": runs, "help_seconds": round(help_seconds(), 3)}
    if args.json:
        print(json.dumps(result))
        return
    for number, run in enumerate(runs, 1):
        healthz, ready = run["healthz_seconds"], run["ready_seconds"]
        print(
            f"run {number}: /healthz after {healthz:.1f} s (goal 5 s); demo corpus "
            + (f"ready after {ready:.1f} s (goal 30 s)" if ready else "not ready in time")
            + f", {run['documents']} documents"
        )
    print(f"ragops --help: {result['help_seconds']:.2f} s (goal 1 s)")


if __name__ == "__main__":
    main()
