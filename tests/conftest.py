"""Shared fixtures: settings on a temporary data dir, a fresh PostgreSQL database per test,
a started runtime, and the app served by uvicorn on a loopback port.

PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) always run where this suite runs; a
missing server is a failure, never a skip.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
import uvicorn

from ragops.config import Settings
from ragops.db import migrate
from ragops.runtime import Runtime
from tests.ops.support import INSTALL, OpsTools

pytest_plugins = ["tests.fakes.fixtures"]

PG_HOST = os.environ.get("RAGOPS_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("RAGOPS_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("RAGOPS_TEST_PG_USER", "postgres")


def worker_redis_url(base: str, worker: str | None) -> str:
    """The Redis URL of one test worker: under pytest-xdist, worker `gwN` takes the database N
    below the base URL's (15, 14, 13, ... by default), so cached answers, rate-limit counters
    and job queues of tests running at the same time never meet."""
    if not worker or not worker.startswith("gw"):
        return base
    head, _, db = base.rpartition("/")
    number = int(db) if db.isdigit() else 0
    return f"{head}/{(number - int(worker[2:])) % 16}"


REDIS_URL = worker_redis_url(
    os.environ.get("RAGOPS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
    os.environ.get("PYTEST_XDIST_WORKER"),
)
REPO_ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ["sqlite", "postgres"]

T = TypeVar("T")


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from synchronous test code; in a thread of its own when this thread
    already runs an event loop (an open Playwright browser does)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a test: embedded everything under `data_dir`, no demo corpus. API keys are
    required as in production; no bootstrap key is printed (`RunningServer` makes its own)."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "environment": "test",
        "demo_corpus": False,
        "log_level": "WARNING",
        "bootstrap_api_key": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings on each database backend in turn: SQLite, then a fresh PostgreSQL database."""
    with backend_settings(request.param, tmp_path / "var") as value:
        yield value


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    name = f"ragops_test_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for a module- or session-scoped fixture (sync)."""
    name = f"ragops_test_{uuid.uuid4().hex[:12]}"
    run_sync(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        run_sync(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass(frozen=True)
class PgVectorServer:
    """A private PostgreSQL 16 with pgvector (the `pgserver` package), on a unix socket."""

    socket_dir: Path
    port: int

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@/{database}?host={self.socket_dir}"

    @property
    def bin_dir(self) -> Path:
        """The server's own client tools (pg_dump 16: the machine's 15 refuses a 16 server)."""
        import pgserver

        return Path(pgserver.__file__).parent / "pginstall" / "bin"

    async def admin(self, sql: str) -> None:
        conn = await asyncpg.connect(
            host=str(self.socket_dir), port=self.port, user="postgres", database="postgres"
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()


@pytest.fixture(scope="session")
def pgvector_server() -> Iterator[PgVectorServer]:
    """One private pgvector server for the session (the machine's PostgreSQL has no pgvector),
    started on first use in a temporary directory and stopped, its data deleted, at the end.

    Not under pytest's temporary directory: pytest resets that tree to owner-only access,
    and the server runs as its own system user when the tests run as root."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pgserver

    parent = Path(tempfile.mkdtemp(prefix="ragops-pgvector-"))
    parent.chmod(0o755)
    server = pgserver.get_server(parent / "pg", cleanup_mode="delete")
    try:
        info = server.get_postmaster_info()
        # A unix socket only, in a directory of its own: the default port never collides.
        assert info.socket_dir is not None and info.port == 5432
        yield PgVectorServer(socket_dir=Path(info.socket_dir), port=int(info.port))
    finally:
        server.cleanup()
        shutil.rmtree(parent, ignore_errors=True)


@contextmanager
def pgvector_database(server: PgVectorServer) -> Iterator[str]:
    """A fresh database on the pgvector server (SQLAlchemy URL); dropped afterwards."""
    name = f"ragops_test_{uuid.uuid4().hex[:12]}"
    run_sync(server.admin(f'CREATE DATABASE "{name}"'))
    try:
        yield server.url(name)
    finally:
        run_sync(server.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def pgvector_url(pgvector_server: PgVectorServer) -> Iterator[str]:
    """A fresh database on the session's pgvector server for one test."""
    with pgvector_database(pgvector_server) as url:
        yield url


@contextmanager
def pgvector_settings(
    server: PgVectorServer, data_dir: Path, **overrides: Any
) -> Iterator[Settings]:
    """Settings with the database and the vector store in one fresh database of the pgvector
    server: the shared-store layout several instances use."""
    with pgvector_database(server) as url:
        yield make_settings(data_dir, database_url=url, vector_store="pgvector", **overrides)


@contextmanager
def backend_settings(backend: str, data_dir: Path, **overrides: Any) -> Iterator[Settings]:
    """Settings on SQLite ("sqlite") or a fresh PostgreSQL database ("postgres")."""
    if backend == "sqlite":
        yield make_settings(data_dir, **overrides)
        return
    with pg_database() as url:
        yield make_settings(data_dir, database_url=url, **overrides)


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """A migrated, started runtime on embedded defaults."""
    await migrate.upgrade(settings)
    started = await Runtime.start(settings)
    try:
        yield started
    finally:
        await started.aclose()


ALL_SCOPES = ("chat", "ingest", "admin")


def create_api_key(
    settings: Settings,
    *,
    tenant: str = "default",
    scopes: tuple[str, ...] | str = ALL_SCOPES,
    **options: Any,
) -> str:
    """A new API key made through the key service on the settings' (migrated) database."""
    from ragops.auth import service
    from ragops.db import Database

    async def make() -> str:
        db = Database(settings)
        try:
            created = await service.create_key(db=db, tenant_id=tenant, scopes=scopes, **options)
            return created.key
        finally:
            await db.dispose()

    return run_sync(make())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """The app served over real sockets on loopback, with an admin key of tenant "default"
    (none when `auth_enabled` is off)."""

    base_url: str
    settings: Settings
    api_key: str | None = None

    def client(self, *, authenticated: bool = True, **kwargs: Any) -> httpx.Client:
        """An HTTP client sending `api_key` as a Bearer token (unless `authenticated=False`);
        a request's own `Authorization` header replaces it."""
        headers = dict(kwargs.pop("headers", None) or {})
        if authenticated and self.api_key:
            headers.setdefault("Authorization", f"Bearer {self.api_key}")
        return httpx.Client(base_url=self.base_url, timeout=60, headers=headers, **kwargs)


class RunningServer:
    """`create_app(settings)` under uvicorn in a thread, on a free loopback port."""

    def __init__(self, settings: Settings) -> None:
        from ragops.main import create_app

        self.settings = settings
        self.port = free_port()
        config = uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        """Serve, then (with auth on) create the admin key of tenant "default" the tests send."""
        self.thread.start()
        deadline = time.monotonic() + 180
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the server failed to start")
            if time.monotonic() > deadline:
                raise TimeoutError("the server did not start in time")
            time.sleep(0.05)
        key = create_api_key(self.settings, name="tests") if self.settings.auth_enabled else None
        return LiveServer(
            base_url=f"http://127.0.0.1:{self.port}", settings=self.settings, api_key=key
        )

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def serve_app() -> Iterator[Any]:
    """A function starting servers for this test; all are stopped at its end."""
    running: list[RunningServer] = []

    def start(settings: Settings) -> LiveServer:
        server = RunningServer(settings)
        running.append(server)
        return server.start()

    yield start
    for server in running:
        server.stop()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (installed by scripts/install-browser.sh).

    Module-scoped: Playwright's sync API keeps an event loop running in the main thread while
    it is open, which would break every later async test and `asyncio.run` of the session."""
    import subprocess

    from playwright.sync_api import sync_playwright

    subprocess.run([str(REPO_ROOT / "scripts" / "install-browser.sh")], check=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


RAGOPS_CLI = str(Path(sys.executable).with_name("ragops"))


def run_cli(
    data_dir: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the `ragops` command as a real process on embedded defaults under `data_dir`.

    Asserts that it never prints a traceback, and (with `check`) that it exits 0."""
    environment = {
        **os.environ,
        "RAGOPS_DATA_DIR": str(data_dir),
        "RAGOPS_DEMO_CORPUS": "false",
        "RAGOPS_LOG_LEVEL": "WARNING",
        "COLUMNS": "200",
        **(env or {}),
    }
    result = subprocess.run(
        [RAGOPS_CLI, *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=180,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result


@dataclass(frozen=True)
class ServedCli:
    """A `ragops serve` process started by `serve_cli`."""

    data_dir: Path
    url: str
    process: subprocess.Popen[bytes]


@contextmanager
def serve_cli(data_dir: Path) -> Iterator[ServedCli]:
    """`ragops serve` as a real process on embedded defaults under `data_dir`, on a free port,
    until `/healthz` answers; stopped with SIGTERM (a graceful stop) at the end."""
    port = free_port()
    env = {
        **os.environ,
        "RAGOPS_DATA_DIR": str(data_dir),
        "RAGOPS_DEMO_CORPUS": "false",
        "RAGOPS_LOG_LEVEL": "WARNING",
        "RAGOPS_BOOTSTRAP_API_KEY": "false",  # pragma: allowlist secret
    }
    process = subprocess.Popen(
        [RAGOPS_CLI, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        assert process.poll() is None, "ragops serve exited"
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "ragops serve did not come up"
        time.sleep(0.2)
    try:
        yield ServedCli(data_dir=data_dir, url=url, process=process)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


@pytest.fixture(scope="session")
def ops_tools() -> OpsTools:
    """promtool and amtool, installed by scripts/install-ops-tools.sh; a failed install fails."""
    result = subprocess.run(
        ["bash", str(INSTALL)], capture_output=True, text=True, timeout=900, check=False
    )
    assert result.returncode == 0, f"install-ops-tools.sh failed:\n{result.stdout}{result.stderr}"
    promtool, amtool = shutil.which("promtool"), shutil.which("amtool")
    assert promtool and amtool, "install-ops-tools.sh succeeded but promtool/amtool are missing"
    return OpsTools(promtool=promtool, amtool=amtool)
