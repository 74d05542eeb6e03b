"""The API contract, as a fuzzer tries it: schemathesis (pinned) runs every check (all are on
by default) on every operation of `/openapi.json` against a real server, with an admin key
and rate limits raised for the run, and fails on any server error, undeclared status,
schema violation or wrongly accepted/refused input. The exceptions are in schemathesis.toml
beside this file, each with its reason.

Bounded: `RAGOPS_CONTRACT_EXAMPLES` cases per operation and phase (default 25, about a
minute on two cores), seed `RAGOPS_CONTRACT_SEED` (default fixed, so `make test` is
repeatable; set another to explore), database `RAGOPS_CONTRACT_BACKEND` (sqlite, the
default, or postgres).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LiveServer, RunningServer, backend_settings
from tests.e2e.conftest import POOL_DOC, ROLLBACK_DOC, upload

CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
EXAMPLES = int(os.environ.get("RAGOPS_CONTRACT_EXAMPLES", "25"))
SEED = int(os.environ.get("RAGOPS_CONTRACT_SEED", "20261203"))
BACKEND = os.environ.get("RAGOPS_CONTRACT_BACKEND", "sqlite")
UNLIMITED = "100000/minute"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("contract") / "var"
    limits = {f"rate_limit_{name}": UNLIMITED for name in ("chat", "ingest", "per_ip")}
    with backend_settings(BACKEND, data_dir, **limits) as settings:
        running = RunningServer(settings)
        try:
            live = running.start()
            with live.client() as client:
                files = [("pool.md", POOL_DOC, "text/markdown")]
                assert upload(client, files).status_code == 200
                files = [("rollback.md", ROLLBACK_DOC, "text/markdown")]
                assert upload(client, files, collection="runbooks").status_code == 200
            yield live
        finally:
            running.stop()


# The run's own bound is the subprocess timeout below; under load it can pass pytest's 300 s.
@pytest.mark.timeout(660)
def test_every_operation_keeps_the_contract(server: LiveServer, tmp_path: Path) -> None:
    command = [
        SCHEMATHESIS,
        "--no-color",
        "--config-file",
        str(CONFIG),
        "run",
        f"{server.base_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {server.api_key}",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        str(SEED),
        # One worker: two threads of the generator can trip CPython 3.11's `ast` (SystemError
        # "AST constructor recursion depth mismatch") while hypothesis describes a lambda.
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--report-dir",
        str(tmp_path / "report"),
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[:3_000] + "\n...\n" + output[-20_000:]
    assert "Selected: " in output, output[-5_000:]
    print(output[-1_500:])  # the run's summary, shown with `pytest -s`
