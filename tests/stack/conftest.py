"""The stack the multi-instance tests share: three ragops instances under supervisord behind
nginx (`ragops.stack`, deploy/local/), on a fresh PostgreSQL database (the machine's server),
the shared pgvector store (a fresh database on the session's pgvector server), a Redis server
of the tests' own and a fake LLM that answers after a steady delay (so requests are in
flight when an instance is stopped). supervisord and nginx come from
scripts/install-stack-tools.sh."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ragops.config import Settings
from ragops.stack.config import make_plan, write_files
from ragops.stack.service import Stack
from tests.conftest import (
    REPO_ROOT,
    PgVectorServer,
    create_api_key,
    make_settings,
    pg_database,
    pgvector_database,
)
from tests.fakes.llm import FakeLLMServer
from tests.resilience.servers import RedisProcess

INSTALL = REPO_ROOT / "scripts" / "install-stack-tools.sh"
LLM_DELAY_SECONDS = 0.3
INGEST_LIMIT = 6
CORPUS = REPO_ROOT / "docs" / "runbooks"
DOCS = REPO_ROOT / "docs"
ANSWERING = ("security/authentication.md", "observability.md", "ingestion.md")
"""Pages holding the answers to the steady load's questions besides the runbooks' rollback."""


@dataclass
class RunningStack:
    """A started stack and what the tests need to talk to it."""

    stack: Stack
    settings: Settings
    api_key: str
    llm: FakeLLMServer

    @property
    def url(self) -> str:
        return self.stack.url

    def client(self, base_url: str | None = None, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key or self.api_key}"}
        return httpx.Client(base_url=base_url or self.url, headers=headers, timeout=60)

    def upstream(self, index: int) -> str:
        """What nginx's X-Upstream says for instance `index`."""
        return f"127.0.0.1:{self.stack.plan.instance_ports[index]}"

    def new_key(self) -> str:
        return create_api_key(self.settings)


@pytest.fixture(scope="session")
def stack_tools() -> None:
    result = subprocess.run(
        ["bash", str(INSTALL)], capture_output=True, text=True, timeout=900, check=False
    )
    assert result.returncode == 0, f"install-stack-tools.sh failed:\n{result.stdout}{result.stderr}"


@pytest.fixture(scope="module")
def stack3(
    stack_tools: None,
    pgvector_server: PgVectorServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningStack]:
    """Three instances behind nginx sharing a database, a vector store and Redis, with two
    runbooks ingested once through nginx."""
    base = tmp_path_factory.mktemp("stack")
    redis = RedisProcess(base / "redis").start()
    llm = FakeLLMServer().start()
    llm.state.delay_seconds = LLM_DELAY_SECONDS
    try:
        with pg_database() as url, pgvector_database(pgvector_server) as vectors:
            overrides = {
                "RAGOPS_DATABASE_URL": url,
                "RAGOPS_VECTOR_STORE": "pgvector",
                "RAGOPS_PGVECTOR_URL": vectors,
                "RAGOPS_REDIS_URL": redis.url,
                "RAGOPS_ENVIRONMENT": "test",
                "RAGOPS_LOG_LEVEL": "WARNING",
                "RAGOPS_LLM_BASE_URL": llm.base_url,
                "RAGOPS_LLM_MODEL": "fake-model",
                "RAGOPS_RATE_LIMIT_CHAT": "1000000/minute",
                "RAGOPS_RATE_LIMIT_PER_IP": "1000000/minute",
                "RAGOPS_RATE_LIMIT_INGEST": f"{INGEST_LIMIT}/minute",
                "RAGOPS_DEPENDENCY_CHECK_SECONDS": "0",
            }
            stack = Stack(make_plan(base / "run", 3, environ={}, overrides=overrides))
            write_files(stack.plan)
            stack.up(timeout=240)
            try:
                settings = make_settings(base / "keys", database_url=url)
                running = RunningStack(stack, settings, create_api_key(settings), llm)
                # Pages that answer every question of the steady load (`ragops.stack.load`), so
                # each one reaches the slow fake LLM: the scope check would answer an
                # out-of-scope one at once, and the drain tests need requests in flight.
                files = [*sorted(CORPUS.glob("*.md"))[:2], *(DOCS / name for name in ANSWERING)]
                upload = [("files", (p.name, p.read_bytes(), "text/markdown")) for p in files]
                with running.client(key=running.new_key()) as client:
                    response = client.post("/v1/documents", files=upload)
                    assert response.status_code == 200, response.text
                yield running
            finally:
                stack.down()
    finally:
        llm.stop()
        redis.stop()


def wait_until(condition: object, timeout: float, what: str) -> None:
    """Poll `condition()` until true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def instance_log(stack: Stack, index: int) -> Path:
    return stack.plan.run_dir / "logs" / f"{stack.plan.names[index]}.log"
