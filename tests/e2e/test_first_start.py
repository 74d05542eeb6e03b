"""First start over real HTTP: the port opens before the demo corpus is ingested, `/healthz`
answers while it ingests, `/readyz` says `ingesting` (503) with progress, then `ready` once
every file is in; stopping the server mid-ingestion cancels it cleanly; `ragops serve` prints
when answers are ready."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import RAGOPS_CLI, RunningServer, free_port, make_settings

WORDS = (
    "replica failover latency budget shard index quorum rollback deploy canary alert pager "
    "runbook metric tenant snapshot restore vacuum checkpoint migration schema cache eviction"
).split()


@pytest.fixture(scope="module")
def big_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Enough Markdown that ingesting it takes seconds, not milliseconds."""
    folder = tmp_path_factory.mktemp("big-corpus")
    for number in range(120):
        paragraphs = []
        for section in range(6):
            words = [WORDS[(number * 7 + section * 3 + i) % len(WORDS)] for i in range(70)]
            paragraphs.append(f"## Part {section}\n\n{' '.join(words)}.\n")
        text = f"# Note {number}\n\n" + "\n".join(paragraphs)
        (folder / f"note-{number:03d}.md").write_text(text, encoding="utf-8")
    return folder


def _readyz(client: httpx.Client) -> tuple[int, dict[str, object]]:
    response = client.get("/readyz")
    return response.status_code, response.json()


def test_healthz_answers_while_the_demo_corpus_ingests(tmp_path: Path, big_corpus: Path) -> None:
    settings = make_settings(tmp_path / "var", demo_corpus=True, demo_corpus_path=big_corpus)
    server = RunningServer(settings)
    live = server.start()
    try:
        with live.client() as client:
            # the port is open and the corpus is not in yet
            assert client.get("/healthz").status_code == 200
            status, body = _readyz(client)
            assert status == 503, body
            assert body["status"] == "ingesting" and body["reasons"] == ["ingesting"]
            startup = body["startup"]
            assert isinstance(startup, dict) and startup["status"] in ("checking", "ingesting")
            assert startup["files_done"] < 120

            seen_progress = False
            deadline = time.monotonic() + 300
            while True:
                started = time.monotonic()
                assert client.get("/healthz").status_code == 200
                assert time.monotonic() - started < 2.0, "healthz stalled during ingestion"
                status, body = _readyz(client)
                startup = body["startup"]
                assert isinstance(startup, dict)
                if status == 200:
                    break
                assert body["status"] == "ingesting", body
                seen_progress |= 0 < int(str(startup["files_done"])) < 120
                assert time.monotonic() < deadline, "the demo corpus never finished"
                time.sleep(0.2)

            assert body["status"] in ("ready", "degraded") and body["ready"] is True
            assert startup["status"] == "ready" and startup["files_done"] == 120
            assert seen_progress, "readiness never showed partial progress"
            listing = client.get("/v1/documents", params={"limit": 500}).json()
            assert listing["total"] == 120
    finally:
        server.stop()
    assert not server.thread.is_alive()


def test_stopping_mid_ingestion_cancels_it(tmp_path: Path, big_corpus: Path) -> None:
    settings = make_settings(tmp_path / "var", demo_corpus=True, demo_corpus_path=big_corpus)
    server = RunningServer(settings)
    live = server.start()
    with live.client() as client:
        status, body = _readyz(client)
    assert status == 503 and body["status"] == "ingesting"
    started = time.monotonic()
    server.stop()
    assert not server.thread.is_alive(), "the server did not stop while ingesting"
    assert time.monotonic() - started < 20


def test_no_demo_corpus_means_ready_at_once(tmp_path: Path) -> None:
    server = RunningServer(make_settings(tmp_path / "var", demo_corpus=False))
    live = server.start()
    try:
        with live.client() as client:
            status, body = _readyz(client)
        assert status == 200, body
        assert "startup" not in body
    finally:
        server.stop()


def test_serve_prints_when_answers_are_ready(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "pool.md").write_text("# Pool\n\nThe pool keeps five connections open.\n")
    data_dir = tmp_path / "var"
    port = free_port()
    env = {
        **os.environ,
        "RAGOPS_DATA_DIR": str(data_dir),
        "RAGOPS_DEMO_CORPUS_PATH": str(corpus),
        "RAGOPS_LOG_LEVEL": "WARNING",
        "RAGOPS_BOOTSTRAP_API_KEY": "false",  # pragma: allowlist secret
        "COLUMNS": "200",
    }
    process = subprocess.Popen(
        [RAGOPS_CLI, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    guard = threading.Timer(180, process.kill)  # a hung server ends the read loop below
    guard.start()
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "answers are ready:" in line:
                break
        assert any('says "ingesting"' in line for line in lines), lines
        assert "the demo corpus is in (1 files)" in lines[-1], lines
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
    finally:
        guard.cancel()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert not (data_dir / "server.json").exists()
