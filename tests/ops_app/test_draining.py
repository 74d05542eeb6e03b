"""Draining: after SIGTERM the server keeps serving for RAGOPS_DRAIN_SECONDS while /readyz
answers 503 `draining`, then stops. The server is a real `uvicorn` process (signals reach
only a main thread), started from the application factory with settings from the
environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import REPO_ROOT, free_port


def _wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited during start-up"
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not become ready")


def test_sigterm_drains_before_stopping(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RAGOPS_")},
        "RAGOPS_DATA_DIR": str(tmp_path / "var"),
        "RAGOPS_ENVIRONMENT": "test",
        "RAGOPS_DEMO_CORPUS": "false",
        "RAGOPS_LOG_LEVEL": "WARNING",
        "RAGOPS_AUTH_ENABLED": "false",
        "RAGOPS_BOOTSTRAP_API_KEY": "false",
        "RAGOPS_DRAIN_SECONDS": "3",
        "RAGOPS_READINESS_CACHE_SECONDS": "30",
        "PYTHONPATH": str(REPO_ROOT / "src"),
    }
    command = [sys.executable, "-m", "uvicorn", "ragops.main:create_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=log)
    try:
        _wait_ready(base, process)
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()

        with httpx.Client(base_url=base, timeout=5) as client:
            ready = client.get("/readyz")  # the cached checks do not hide the drain
            assert ready.status_code == 503, ready.text
            body = ready.json()
            assert body["draining"] is True and body["reasons"][0] == "draining"
            # Still serving while the load balancer takes the instance out.
            assert client.get("/healthz").status_code == 200
            assert client.get("/v1/collections").status_code == 200

        process.wait(timeout=60)
        assert time.monotonic() - signalled >= 3
        output = (tmp_path / "server.log").read_text(errors="replace")
        assert process.returncode in (0, -signal.SIGTERM), output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        log.close()


def test_draining_refuses_new_requests_when_told_to(tmp_path: Path) -> None:
    """With RAGOPS_DRAIN_REFUSE_NEW (behind nginx, which checks passively) new API requests
    get 503 `draining`, recorded with `route="drain"`, while the operations endpoints keep
    answering."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RAGOPS_")},
        "RAGOPS_DATA_DIR": str(tmp_path / "var"),
        "RAGOPS_ENVIRONMENT": "test",
        "RAGOPS_DEMO_CORPUS": "false",
        "RAGOPS_LOG_LEVEL": "WARNING",
        "RAGOPS_AUTH_ENABLED": "false",
        "RAGOPS_BOOTSTRAP_API_KEY": "false",
        "RAGOPS_DRAIN_SECONDS": "3",
        "RAGOPS_DRAIN_REFUSE_NEW": "true",
        "PYTHONPATH": str(REPO_ROOT / "src"),
    }
    command = [sys.executable, "-m", "uvicorn", "ragops.main:create_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=log)
    try:
        _wait_ready(base, process)
        with httpx.Client(base_url=base, timeout=5) as client:
            assert client.get("/v1/collections").status_code == 200
            process.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            refused = client.get("/v1/collections")
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "draining"
            assert refused.headers["retry-after"] == "1"
            assert refused.headers["connection"] == "close"
            assert client.get("/healthz").status_code == 200
            # Counted as a drain refusal, which the SLO rules leave out, not as a request no
            # route matched.
            exposition = client.get("/metrics").text
            assert 'route="drain",status="503"' in exposition
            assert 'route="unmatched"' not in exposition
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        log.close()
