"""End-to-end load benchmark: N concurrent users against a running ragops whose LLM is an
OpenAI-compatible stub that answers after a fixed delay, and the same load against a bare
FastAPI JSON endpoint served with the same uvicorn settings (the ceiling).

    python bench/load.py [--users 32] [--seconds 15] [--llm-delay-ms 200] [--extractive] [--json]

Three processes are started on loopback: the stub LLM, `ragops serve` (SQLite and the
embedded vector store in a temporary folder, API keys off, rate limits lifted, the project's
docs/ ingested through the API) and the bare endpoint. Phases, each for `--seconds`:

1. uncached: every question is new (a request number is appended, which the semantic
   cache's number guard never matches), so each runs the whole pipeline: p50/p95/p99,
   questions a second, error rate and the server overhead = latency - the stub's delay;
2. cached: a few questions asked again and again (answered once before the phase): p95 and
   throughput of answers served from the exact cache;
3. bare: `GET /bare` of a minimal FastAPI app: the throughput ceiling of the server stack.

Every phase sends its requests through `rawhttp` (bench/rawhttp.py): one keep-alive HTTP/1.1
connection per user and a few stream calls a request. The load generator shares the cores
with the servers: httpx, used before, cost more CPU a request than the bare endpoint itself,
so it capped each phase's throughput and spaced requests out (a server's CPU a request then
rises: fewer answers share a database commit).

`--extractive` starts no stub LLM: answers are extractive (the default mode of `make run`),
so the uncached phase measures the whole pipeline on this machine's CPU (goal of issue 7:
p95 <= 2 s at 32 users on 2 cores).

`--instances N` runs the same phases against N instances behind nginx (`ragops stack`,
deploy/local/): a fresh database on the PostgreSQL server at 127.0.0.1:5432
(`--pg-admin-url`), the pgvector store in a private `pgserver` and a private Redis; server CPU
and stage times are then summed over the instances. `--url URL` measures a service already
running there (`--api-key`; no stub, no bare phase, nothing ingested unless `--ingest`).
docs/scaling.md has the table at 1, 2 and 3 instances.

`--log-level INFO` runs the server at the level of a deployment's default, so every request
also writes its access-log line (to a file in the temporary folder); the default, WARNING,
writes none.

`--json` prints `{"overhead_p95_ms", "cached_p95_ms", "p95_ms", "rps", "error_rate",
"bare_rps", ...}`; every run writes bench/results/load.json. Goals (issue 9): overhead
p95 <= 30 ms, cached p95 <= 10 ms, cached throughput within 2x of the bare endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import rawhttp
from prometheus_client.parser import text_string_to_metric_families

LOAD_BEFORE: list[float] = []
AUTH: dict[str, str] = {}
"""Headers every request of the benchmark sends (`--api-key`)."""
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
QUESTIONS = [
    "How do I rotate an API key?",
    "How many connections does the database pool keep open?",
    "What does the readiness probe check?",
    "How do I roll back a bad release?",
    "Which file formats can I upload?",
    "What happens when the LLM provider is down?",
    "How are answers cited?",
    "How is tenant data isolated?",
]


# --- the helper servers (run as subprocesses of this script) -----------------------------


def serve_stub(port: int, delay_ms: float) -> None:
    """An OpenAI-compatible chat endpoint answering after `delay_ms`, citing passage 1."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "stub", "object": "model", "created": 0}]}

    @app.post("/v1/chat/completions")
    async def chat() -> dict[str, Any]:
        await asyncio.sleep(delay_ms / 1000)
        text = "The answer is in the first passage [1]."
        return {
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "stub",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
        }

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def serve_bare(port: int) -> None:
    """A minimal FastAPI JSON endpoint under the same uvicorn settings as `ragops serve`,
    the slow-client guarded HTTP protocol included (it costs about 0.15 ms a request more than
    uvicorn's default httptools parser)."""
    import uvicorn
    from fastapi import FastAPI

    from ragops.config.settings import Settings
    from ragops.security.slow_clients import uvicorn_options

    app = FastAPI()

    @app.get("/bare")
    async def bare() -> dict[str, Any]:
        return {"answer": "ok", "citations": [], "cache": "hit-exact"}

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        proxy_headers=False,
        **uvicorn_options(Settings()),
    )


# --- orchestration -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"error: {url} did not answer within {timeout:.0f} s")


def ingest_docs(base: str) -> int:
    files = sorted((ROOT / "docs").rglob("*.md"))
    with httpx.Client(base_url=base, timeout=300, headers=AUTH) as client:
        for start in range(0, len(files), 10):
            batch = files[start : start + 10]
            upload = [("files", (p.name, p.read_bytes(), "text/markdown")) for p in batch]
            response = client.post("/v1/documents", files=upload)
            if response.status_code != 200:
                raise SystemExit(f"error: ingest failed: {response.status_code} {response.text}")
    return len(files)


def quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return round(ordered[index], 2)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (Linux /proc), children excluded."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stage_totals(base: str) -> dict[str, tuple[float, float]]:
    """(sum of seconds, count) per answering stage, scraped from the server's /metrics."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    totals: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "ragops_rag_stage_duration_seconds":
            continue
        for sample in family.samples:
            slot = {"_sum": 0, "_count": 1}.get(sample.name.removeprefix(family.name))
            if slot is not None:
                totals.setdefault(sample.labels["stage"], [0.0, 0.0])[slot] = sample.value
    return {stage: (pair[0], pair[1]) for stage, pair in totals.items()}


def measured(phase: Any, *, pids: list[int], bases: list[str]) -> dict[str, Any]:
    """Run one phase and add the servers' CPU per request and mean milliseconds per stage
    (summed over every instance: `pids` and their own `bases`)."""

    def cpu() -> float:
        return sum(process_cpu_seconds(pid) for pid in pids)

    def stages() -> dict[str, tuple[float, float]]:
        total: dict[str, tuple[float, float]] = {}
        for base in bases:
            for stage, (seconds, count) in stage_totals(base).items():
                before = total.get(stage, (0.0, 0.0))
                total[stage] = (before[0] + seconds, before[1] + count)
        return total

    cpu_before, stages_before = cpu(), stages()
    result: dict[str, Any] = phase()
    cpu_used = cpu() - cpu_before
    after = stages()
    requests = max(result["requests"], 1)
    result["server_cpu_ms_per_request"] = round(1000 * cpu_used / requests, 2) if pids else None
    result["stage_ms_per_request"] = {
        stage: round(1000 * (total - stages_before.get(stage, (0.0, 0.0))[0]) / requests, 2)
        for stage, (total, _count) in sorted(after.items())
    }
    return result


async def run_phase(
    url: str, *, users: int, seconds: float, body: Any, method: str = "POST"
) -> dict[str, Any]:
    """`users` loops sending requests for `seconds`, each on its own keep-alive connection
    (`rawhttp`, a client far lighter than httpx on the cores the server shares); latencies
    of the finished ones."""
    latencies: list[float] = []
    caches: dict[str, int] = {}
    errors = 0
    counter = 0
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    stop = time.perf_counter() + seconds

    async def user() -> None:
        nonlocal errors, counter
        connection = rawhttp.Connection(url, AUTH)
        try:
            while time.perf_counter() < stop:
                counter += 1
                payload = body(counter) if callable(body) else body
                started = time.perf_counter()
                try:
                    async with asyncio.timeout(60):
                        answer = await connection.request(method, target, json_body=payload)
                except (OSError, TimeoutError, asyncio.IncompleteReadError, rawhttp.ProtocolError):
                    answer = None
                latencies.append((time.perf_counter() - started) * 1000)
                if answer is None or answer.status != 200:
                    errors += 1
                elif "x-cache" in answer.headers:
                    label = answer.headers["x-cache"]
                    caches[label] = caches.get(label, 0) + 1
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(user() for _ in range(users)))
    elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "seconds": round(elapsed, 2),
        "rps": round(len(latencies) / elapsed, 2),
        "error_rate": round(errors / len(latencies), 4) if latencies else None,
        "p50_ms": quantile(latencies, 0.50),
        "p95_ms": quantile(latencies, 0.95),
        "p99_ms": quantile(latencies, 0.99),
        "mean_ms": round(statistics.fmean(latencies), 2) if latencies else None,
        "cache": caches,
        "latencies": latencies,
    }


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(args, env=env, stdout=handle, stderr=subprocess.STDOUT)


class StackTarget:
    """N instances behind nginx with private pgvector and Redis servers and a fresh database
    on the machine's PostgreSQL; `close()` stops and removes all of it."""

    def __init__(self, instances: int, env: dict[str, str], work: Path, pg_admin: str) -> None:
        import asyncpg

        self.work, self.pg_admin = work, pg_admin
        work.chmod(0o755)  # as root, pgserver's PostgreSQL runs as a user of its own
        self.database = f"ragops_bench_{os.getpid()}_{int(time.time())}"
        self.vectors: Any = None
        self.redis: subprocess.Popen[bytes] | None = None
        self.stack: Any = None
        self._admin(asyncpg, f'CREATE DATABASE "{self.database}"')
        try:
            self._start(instances, env, work)
        except BaseException:
            self.close()
            raise

    def _start(self, instances: int, env: dict[str, str], work: Path) -> None:
        import asyncpg
        import pgserver

        from ragops.stack.config import make_plan, write_files
        from ragops.stack.service import Stack

        self.vectors = pgserver.get_server(work / "pgvector", cleanup_mode="delete")
        info = self.vectors.get_postmaster_info()
        asyncio.run(self._vector_db(asyncpg, info.socket_dir, info.port))
        self.redis_port = free_port()
        self.redis = start(
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", str(work)],
            dict(os.environ),
            work / "redis.log",
        )
        host = self.pg_admin.split("@", 1)[1].split("/", 1)[0]
        user = self.pg_admin.split("://", 1)[1].split("@", 1)[0]
        overrides = {
            **{k: v for k, v in env.items() if k.startswith("RAGOPS_")},
            "RAGOPS_DATABASE_URL": f"postgresql+asyncpg://{user}@{host}/{self.database}",
            "RAGOPS_VECTOR_STORE": "pgvector",
            "RAGOPS_PGVECTOR_URL": f"postgresql+asyncpg://postgres@/bench?host={info.socket_dir}",
            "RAGOPS_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
        }
        overrides.pop("RAGOPS_DATA_DIR", None)
        self.stack = Stack(make_plan(work / "stack", instances, environ={}, overrides=overrides))
        write_files(self.stack.plan)
        self.stack.up(timeout=600)

    def _admin(self, asyncpg: Any, sql: str) -> None:
        async def run() -> None:
            conn = await asyncpg.connect(self.pg_admin)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        asyncio.run(run())

    @staticmethod
    async def _vector_db(asyncpg: Any, socket_dir: str, port: int) -> None:
        conn = await asyncpg.connect(
            host=str(socket_dir), port=port, user="postgres", database="postgres"
        )
        try:
            await conn.execute('CREATE DATABASE "bench"')
        finally:
            await conn.close()

    @property
    def url(self) -> str:
        return self.stack.url

    @property
    def bases(self) -> list[str]:
        return [self.stack.plan.instance_url(i) for i in range(len(self.stack.plan.names))]

    def pids(self) -> list[int]:
        return [pid for i in range(len(self.bases)) if (pid := self.stack.pid(i)) is not None]

    def close(self) -> None:
        import asyncpg

        if self.stack is not None:
            self.stack.down()
        if self.redis is not None:
            self.redis.terminate()
        if self.vectors is not None:
            self.vectors.cleanup()
        self._admin(asyncpg, f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


def benchmarked_settings(work: Path, log_level: str) -> dict[str, str]:
    """The environment of a benchmarked ragops: a fresh data dir under `work`, no demo corpus,
    no authentication, no request shedding and rate limits out of reach (the load is the point;
    `hit_cpu.py` uses the same)."""
    return {
        "RAGOPS_DATA_DIR": str(work / "var"),
        "RAGOPS_ENVIRONMENT": "development",
        "RAGOPS_DEMO_CORPUS": "false",
        "RAGOPS_AUTH_ENABLED": "false",
        "RAGOPS_BOOTSTRAP_API_KEY": "false",  # pragma: allowlist secret
        "RAGOPS_LOG_LEVEL": log_level,
        "RAGOPS_RATE_LIMIT_CHAT": "1000000/minute",
        "RAGOPS_RATE_LIMIT_INGEST": "1000000/minute",
        "RAGOPS_RATE_LIMIT_PER_IP": "1000000/minute",
        "RAGOPS_MAX_IN_FLIGHT_REQUESTS": "0",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=32, help="concurrent users")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each phase")
    parser.add_argument("--llm-delay-ms", type=float, default=200.0, help="stub LLM delay")
    parser.add_argument(
        "--extractive", action="store_true", help="no LLM: extractive answers (the default mode)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument(
        "--log-level",
        default="WARNING",
        help="RAGOPS_LOG_LEVEL of the server (INFO, the default of a deployment, writes an "
        "access line per request to the server's log file)",
    )
    parser.add_argument(
        "--instances", type=int, default=0, help="N instances behind nginx (ragops stack)"
    )
    parser.add_argument("--url", help="measure the service already running at this URL")
    parser.add_argument("--api-key", help="API key sent with --url")
    parser.add_argument("--ingest", action="store_true", help="with --url: ingest docs/ first")
    parser.add_argument(
        "--pg-admin-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL where --instances creates its database",
    )
    parser.add_argument(
        "--serve-stub", nargs=2, metavar=("PORT", "DELAY_MS"), help=argparse.SUPPRESS
    )
    parser.add_argument("--serve-bare", metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_stub:
        serve_stub(int(args.serve_stub[0]), float(args.serve_stub[1]))
        return
    if args.serve_bare:
        serve_bare(int(args.serve_bare))
        return
    if args.users < 1 or args.seconds <= 0:
        raise SystemExit("error: --users must be >= 1 and --seconds > 0")
    if args.extractive:
        args.llm_delay_ms = 0.0
    if args.instances < 0 or (args.instances and args.url):
        raise SystemExit("error: --instances N (N >= 1) or --url, not both")
    if args.api_key:
        AUTH["Authorization"] = f"Bearer {args.api_key}"

    say = (lambda *_, **__: None) if args.json else print
    global LOAD_BEFORE
    LOAD_BEFORE = list(os.getloadavg())
    work = Path(tempfile.mkdtemp(prefix="ragops-load-"))
    stub_port, app_port, bare_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        **benchmarked_settings(work, args.log_level),
        "RAGOPS_MAX_QUESTION_CHARS": "2000",
    }
    if not args.extractive:
        env["RAGOPS_LLM_BASE_URL"] = f"http://127.0.0.1:{stub_port}/v1"
        env["RAGOPS_LLM_MODEL"] = "stub"
    ragops = str(Path(sys.executable).with_name("ragops"))
    me = [sys.executable, str(Path(__file__).resolve())]
    remote = args.url is not None
    bare_proc = (
        None if remote else start([*me, "--serve-bare", str(bare_port)], env, work / "bare.log")
    )
    procs = [] if bare_proc is None else [bare_proc]
    if not args.extractive and not remote:
        stub = [*me, "--serve-stub", str(stub_port), str(args.llm_delay_ms)]
        procs.append(start(stub, env, work / "stub.log"))
    target: StackTarget | None = None
    try:
        if not args.extractive and not remote:
            wait_ready(f"http://127.0.0.1:{stub_port}/v1/models")
        if remote:
            base, bases = args.url.rstrip("/"), []
        elif args.instances:
            say(f"starting {args.instances} instances behind nginx ... ", end="", flush=True)
            target = StackTarget(args.instances, env, work, args.pg_admin_url)
            base, bases = target.url, target.bases
            say(base)
        else:
            procs.insert(
                0, start([ragops, "serve", "--port", str(app_port)], env, work / "ragops.log")
            )
            base = f"http://127.0.0.1:{app_port}"
            bases = [base]
        if not remote:
            wait_ready(f"http://127.0.0.1:{bare_port}/bare")
        wait_ready(f"{base}/healthz")
        if not remote or args.ingest:
            say("ingesting docs/ ... ", end="", flush=True)
            documents = ingest_docs(base)
            say(f"{documents} documents")
        chat = f"{base}/v1/chat"

        numbers = itertools.count(1)

        def unique(n: int) -> dict[str, Any]:
            return {"question": f"{QUESTIONS[n % len(QUESTIONS)]} (request {next(numbers)})"}

        # Warm up: model sessions, connections, and the answers the cached phase repeats.
        for question in QUESTIONS:
            httpx.post(chat, json={"question": question}, timeout=60).raise_for_status()
        asyncio.run(run_phase(chat, users=4, seconds=2, body=unique))

        pids = target.pids() if target is not None else ([] if remote else [procs[0].pid])
        say(f"uncached: {args.users} users for {args.seconds:.0f} s ...")
        uncached = measured(
            lambda: asyncio.run(
                run_phase(chat, users=args.users, seconds=args.seconds, body=unique)
            ),
            pids=pids,
            bases=bases,
        )
        say(f"cached: {args.users} users for {args.seconds:.0f} s ...")
        cached = measured(
            lambda: asyncio.run(
                run_phase(
                    chat,
                    users=args.users,
                    seconds=args.seconds,
                    body=lambda n: {"question": QUESTIONS[n % len(QUESTIONS)]},
                )
            ),
            pids=pids,
            bases=bases,
        )
        bare = {"requests": 0, "rps": None, "p50_ms": None, "p95_ms": None, "p99_ms": None}
        bare |= {"error_rate": None, "latencies": []}
        if not remote:
            say(f"bare: {args.users} users for {args.seconds:.0f} s ...")
            assert bare_proc is not None
            bare = measured(
                lambda: asyncio.run(
                    run_phase(
                        f"http://127.0.0.1:{bare_port}/bare",
                        users=args.users,
                        seconds=args.seconds,
                        body=None,
                        method="GET",
                    )
                ),
                pids=[bare_proc.pid],
                bases=[],
            )
    finally:
        if target is not None:
            target.close()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

    overhead = [max(v - args.llm_delay_ms, 0.0) for v in uncached.pop("latencies")]
    cached.pop("latencies")
    bare.pop("latencies")
    report = {
        "users": args.users,
        "seconds": args.seconds,
        "mode": "extractive" if args.extractive else "stub LLM",
        "target": args.url
        or (f"{args.instances} instances behind nginx" if args.instances else "one process"),
        "instances": args.instances or (None if remote else 1),
        "load_average_before": LOAD_BEFORE,
        "llm_delay_ms": args.llm_delay_ms,
        "log_level": args.log_level,
        "p50_ms": uncached["p50_ms"],
        "p95_ms": uncached["p95_ms"],
        "p99_ms": uncached["p99_ms"],
        "rps": uncached["rps"],
        "error_rate": uncached["error_rate"],
        "overhead_p50_ms": quantile(overhead, 0.50),
        "overhead_p95_ms": quantile(overhead, 0.95),
        "cached_p50_ms": cached["p50_ms"],
        "cached_p95_ms": cached["p95_ms"],
        "cached_rps": cached["rps"],
        "cached_error_rate": cached["error_rate"],
        "bare_p95_ms": bare["p95_ms"],
        "bare_rps": bare["rps"],
        "cpu_ms_per_request": {
            name: phase.get("server_cpu_ms_per_request")
            for name, phase in (("uncached", uncached), ("cached", cached), ("bare", bare))
        },
        "phases": {"uncached": uncached, "cached": cached, "bare": bare},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "load.json").write_text(json.dumps(report, indent=1))
    if args.json:
        print(json.dumps(report))
        return
    print(
        f"\n{args.users} users, {args.seconds:.0f} s a phase, LLM delay {args.llm_delay_ms:.0f} ms,"
        f" server log level {args.log_level}"
    )
    heads = ("requests", "rps", "p50 ms", "p95 ms", "p99 ms")
    print(f"{'phase':<10} " + " ".join(f"{h:>9}" for h in heads) + f" {'errors':>7}")
    for name, phase in (("uncached", uncached), ("cached", cached), ("bare", bare)):
        print(
            f"{name:<10} {phase['requests']:>9} {phase['rps']:>9} {phase['p50_ms']:>9} "
            f"{phase['p95_ms']:>9} {phase['p99_ms']:>9} {100 * (phase['error_rate'] or 0):>6.2f}%"
        )
    print(
        f"server overhead (latency - LLM delay): p50 {report['overhead_p50_ms']} ms, "
        f"p95 {report['overhead_p95_ms']} ms (goal <= 30)"
    )
    print(
        f"cached p95 {report['cached_p95_ms']} ms (goal <= 10); cached/bare throughput "
        f"{cached['rps'] / bare['rps'] if bare['rps'] else float('nan'):.2f} (goal >= 0.5)"
    )
    print(f"target: {report['target']}; load average before: {LOAD_BEFORE}")
    print(f"cache labels: uncached {uncached['cache']}, cached {cached['cache']}")
    cpu = report["cpu_ms_per_request"]
    if cpu["cached"] and cpu["bare"]:
        print(
            f"server CPU a request: cached {cpu['cached']} ms, bare {cpu['bare']} ms "
            f"(ratio {cpu['cached'] / cpu['bare']:.2f}; the figure other load on the machine "
            "does not change)"
        )
    for name, phase in (("uncached", uncached), ("cached", cached)):
        stages = ", ".join(f"{k} {v}" for k, v in phase["stage_ms_per_request"].items())
        print(
            f"{name}: server CPU {phase['server_cpu_ms_per_request']} ms a request; "
            f"mean ms a request by stage: {stages}"
        )


if __name__ == "__main__":
    main()
