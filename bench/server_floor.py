"""The floor under `bench/load.py`'s goals: what the server stack alone costs a request on this
machine, from a bare ASGI callable up to the bench's bare FastAPI endpoint.

    python bench/server_floor.py [--users 32] [--seconds 10] [--json]

Each variant is served by uvicorn in its own process on loopback and driven by the load
bench's own client (`rawhttp`, one keep-alive connection per user, the same `run_phase`) for
`--seconds`; the server process's CPU per request comes from `/proc`, as in `bench/load.py`:

- `asgi-httptools`: a raw ASGI callable answering a fixed JSON body, uvicorn's defaults
  (httptools parser, uvloop), no access log;
- `asgi-guarded`: the same callable under `ragops serve`'s uvicorn settings (the slow-client
  guarded h11 protocol of `security/slow_clients.py`, `uvicorn_options`);
- `fastapi-guarded`: `GET /bare` of a minimal FastAPI app under the same settings (the bare
  phase of `bench/load.py`).

A server that answers within 2x of the last one's throughput must spend at most about twice
its CPU a request; 32 users in a closed loop keep 32 requests in flight, so a p95 of 10 ms
needs at least 3,200 answers a second. docs/performance.md has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import load  # noqa: E402  (bench/load.py: the client, the phase runner, the CPU reader)

BODY = b'{"answer":"ok","citations":[],"cache":"hit-exact"}'
VARIANTS = ("asgi-httptools", "asgi-guarded", "fastapi-guarded")


async def bare_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The least an ASGI app can do: read the request, answer a fixed JSON body."""
    if scope["type"] != "http":
        return
    await receive()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(BODY)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


def serve(variant: str, port: int) -> None:
    import uvicorn

    from ragops.config.settings import Settings
    from ragops.security.slow_clients import uvicorn_options

    if variant == "asgi-httptools":
        uvicorn.run(bare_asgi, host="127.0.0.1", port=port, log_config=None, access_log=False)
    elif variant == "asgi-guarded":
        options = uvicorn_options(Settings())
        uvicorn.run(
            bare_asgi, host="127.0.0.1", port=port, log_config=None, proxy_headers=False, **options
        )
    else:
        load.serve_bare(port)


def measure(variant: str, users: int, seconds: float) -> dict[str, Any]:
    port = load.free_port()
    log = Path(tempfile.mkdtemp(prefix="ragops-floor-")) / f"{variant}.log"
    proc = load.start(
        [sys.executable, str(Path(__file__).resolve()), "--serve", variant, str(port)],
        dict(os.environ),
        log,
    )
    try:
        url = f"http://127.0.0.1:{port}/bare"
        load.wait_ready(url)
        asyncio.run(load.run_phase(url, users=users, seconds=1.0, body=None, method="GET"))
        before = load.process_cpu_seconds(proc.pid)
        result = asyncio.run(
            load.run_phase(url, users=users, seconds=seconds, body=None, method="GET")
        )
        used = load.process_cpu_seconds(proc.pid) - before
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    result.pop("latencies", None)
    requests = max(result["requests"], 1)
    result["server_cpu_ms_per_request"] = round(1000 * used / requests, 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve", nargs=2, metavar=("VARIANT", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return
    if args.users < 1 or args.seconds <= 0:
        raise SystemExit("error: --users must be >= 1 and --seconds > 0")
    load_before = list(os.getloadavg())
    results = {variant: measure(variant, args.users, args.seconds) for variant in VARIANTS}
    report = {"users": args.users, "seconds": args.seconds, "load_average_before": load_before}
    report["load_average_after"] = list(os.getloadavg())
    report["variants"] = results
    if args.json:
        print(json.dumps(report))
        return
    print(f"{args.users} users, {args.seconds:.0f} s a variant, load average {load_before[0]:.2f}")
    print(f"{'variant':<16} {'requests':>9} {'rps':>9} {'p50 ms':>8} {'p95 ms':>8} {'CPU ms':>8}")
    for variant, r in results.items():
        print(
            f"{variant:<16} {r['requests']:>9} {r['rps']:>9} {r['p50_ms']:>8} {r['p95_ms']:>8} "
            f"{r['server_cpu_ms_per_request']:>8}"
        )
    print(f"load average after: {report['load_average_after'][0]:.2f}")


if __name__ == "__main__":
    main()
