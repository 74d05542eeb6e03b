"""The metrics module: helpers change the exposition, workers sum up, promtool finds no fault."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import create_async_engine

from ragops.observability import metrics, resources
from tests.unit.observability import mp_worker

ROOT = Path(__file__).resolve().parents[3]
INSTALL = ROOT / "scripts" / "install-ops-tools.sh"


@pytest.fixture(scope="module")
def promtool() -> str:
    """promtool, installed by the project's script when missing (a failed install fails)."""
    if shutil.which("promtool") is None:
        subprocess.run(["bash", str(INSTALL)], check=True, timeout=900)
    path = shutil.which("promtool")
    assert path, "scripts/install-ops-tools.sh ran but promtool is not on PATH"
    return path


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scraped(text: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    samples = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def test_observe_request_counts_and_times() -> None:
    before = value("ragops_http_requests_total", method="POST", route="/t/req", status="503")
    slow = value(
        "ragops_http_request_duration_seconds_bucket", method="POST", route="/t/req", le="6.0"
    )
    metrics.observe_request("POST", "/t/req", 503, 7.5)
    metrics.observe_request("POST", "/t/req", 503, 0.02)
    assert (
        value("ragops_http_requests_total", method="POST", route="/t/req", status="503")
        == before + 2
    )
    # 7.5 s lands above the 6 s SLO bucket, 0.02 s below it.
    assert (
        value(
            "ragops_http_request_duration_seconds_bucket", method="POST", route="/t/req", le="6.0"
        )
        == slow + 1
    )
    assert value("ragops_http_request_duration_seconds_count", method="POST", route="/t/req") == 2


def test_recording_helpers_change_the_exposition() -> None:
    metrics.observe_stage("retrieve", 0.2)
    metrics.record_llm("testprov", "ok", tokens_in=100, tokens_out=40, ttft=0.3)
    metrics.record_llm("testprov", "timeout")
    metrics.record_cache("semantic", hit=True)
    metrics.record_cache("semantic", hit=False)
    metrics.set_dependency("vector_store", up=False)
    metrics.record_answer("degraded")
    metrics.record_prompt_injection("document")
    metrics.record_rate_limited("per_key")
    metrics.record_auth_failure("invalid")
    metrics.record_shed()
    metrics.set_build_info("9.9.9", "deadbee")
    metrics.set_build_info("1.2.3", "abc1234")

    text, content_type = metrics.render_latest()
    assert content_type.startswith("text/plain")
    got = scraped(text)

    def has(name: str, **labels: str) -> float:
        return got[(name, frozenset(labels.items()))]

    assert has("ragops_rag_stage_duration_seconds_count", stage="retrieve") >= 1
    assert has("ragops_llm_tokens_total", provider="testprov", direction="in") == 100
    assert has("ragops_llm_tokens_total", provider="testprov", direction="out") == 40
    assert has("ragops_llm_requests_total", provider="testprov", outcome="timeout") == 1
    assert has("ragops_llm_time_to_first_token_seconds_count", provider="testprov") == 1
    assert has("ragops_cache_lookups_total", cache="semantic", result="hit") >= 1
    assert has("ragops_dependency_up", dependency="vector_store") == 0
    assert has("ragops_answers_total", mode="degraded") >= 1
    assert has("ragops_answers_total", mode="generated") >= 0  # pre-created at zero
    assert has("ragops_prompt_injection_detected_total", source="document") >= 1
    assert has("ragops_rate_limited_total", limit="per_key") >= 1
    assert has("ragops_auth_failures_total", reason="invalid") >= 1
    assert has("ragops_shed_requests_total") >= 1
    builds = [key for key in got if key[0] == "ragops_build_info"]
    assert builds == [
        ("ragops_build_info", frozenset({("version", "1.2.3"), ("commit", "abc1234")}))
    ]
    assert has("ragops_cpu_cores") >= 1
    assert has("ragops_memory_limit_bytes") > 0
    assert has("ragops_process_cpu_seconds_total") > 0
    assert has("ragops_process_resident_memory_bytes") > 0
    metrics.set_dependency("vector_store", up=True)


def test_exposition_passes_promtool_check_metrics(promtool: str) -> None:
    metrics.observe_request("GET", "/t/lint", 200, 0.1)
    text, _ = metrics.render_latest()
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == b"" and result.stderr.strip() == b""


def test_multiprocess_mode_sums_workers_in_one_scrape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, promtool: str
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    context = multiprocessing.get_context("spawn")
    ready, release = context.Semaphore(0), context.Event()
    workers = [context.Process(target=mp_worker.run, args=(n, ready, release)) for n in (3, 4)]
    for worker in workers:
        worker.start()
    try:
        for _ in workers:
            while not ready.acquire(timeout=0.1):
                assert all(worker.is_alive() for worker in workers), "a worker died"
        text, _ = metrics.render_latest()
    finally:
        release.set()
        for worker in workers:
            worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0]

    got = scraped(text)
    key = frozenset({("method", "GET"), ("route", "/v1/chat"), ("status", "200")})
    assert got[("ragops_http_requests_total", key)] == 7
    assert got[("ragops_http_request_duration_seconds_count", key - {("status", "200")})] == 7
    assert (
        got[("ragops_cache_lookups_total", frozenset({("cache", "exact"), ("result", "hit")}))] == 2
    )
    assert got[("ragops_dependency_up", frozenset({("dependency", "database")}))] == 1
    build = frozenset({("version", "0.1.0"), ("commit", "abc1234")})
    assert got[("ragops_build_info", build)] == 1
    assert got[("ragops_http_requests_in_progress", frozenset())] == 2
    assert got[("ragops_process_cpu_seconds_total", frozenset())] > 0
    assert got[("ragops_process_resident_memory_bytes", frozenset())] > 0
    assert got[("ragops_cpu_cores", frozenset())] >= 1
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == b"" and result.stderr.strip() == b""

    # The workers have exited: the next scrape reaps their live gauges, keeps their counters.
    after = scraped(metrics.render_latest()[0])
    assert not any(name.startswith("gauge_live") for name in os.listdir(tmp_path))
    assert after.get(("ragops_http_requests_in_progress", frozenset()), 0) == 0
    assert after[("ragops_http_requests_total", key)] == 7


async def test_instrument_pool_tracks_checkouts_and_waiters(tmp_path: Path) -> None:
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'pool.db'}", pool_size=1, max_overflow=0, pool_timeout=5
    )
    metrics.instrument_pool(engine)
    metrics.instrument_pool(engine)  # twice is harmless
    waits = value("ragops_db_pool_checkout_wait_seconds_count")
    try:
        first = await engine.connect().start()
        assert value("ragops_db_pool_checked_out") == 1
        assert value("ragops_db_pool_size") == 1
        assert value("ragops_db_pool_max") == 1

        second = asyncio.create_task(engine.connect().start())
        for _ in range(100):
            if value("ragops_db_pool_waiters") == 1:
                break
            await asyncio.sleep(0.01)
        assert value("ragops_db_pool_waiters") == 1
        await first.close()
        conn = await second
        assert value("ragops_db_pool_waiters") == 0
        assert value("ragops_db_pool_checked_out") == 1
        await conn.close()
        assert value("ragops_db_pool_checked_out") == 0
        assert value("ragops_db_pool_checkout_wait_seconds_count") == waits + 2
    finally:
        await engine.dispose()


def test_resource_limits_follow_the_cgroup(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    (tmp_path / "memory.max").write_text("1073741824\n")
    assert resources.cpu_cores(tmp_path) == 0.5
    assert resources.memory_limit_bytes(tmp_path) == 1073741824
    (tmp_path / "cpu.max").write_text("max 100000\n")
    (tmp_path / "memory.max").write_text("max\n")
    assert resources.cpu_cores(tmp_path) >= 1
    assert resources.memory_limit_bytes(tmp_path) == resources.total_memory_bytes()
