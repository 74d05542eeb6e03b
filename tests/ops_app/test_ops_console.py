"""The `/ops` console in headless Chromium: after some chat traffic it shows live request rate,
latency, dependency status and version, draws its charts, and logs no console error."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from ragops import __version__
from ragops.ops.console import quantile
from tests.conftest import LiveServer, RunningServer
from tests.ops_app.conftest import app_of, ops_settings


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir: Path = tmp_path_factory.mktemp("console") / "var"
    running = RunningServer(ops_settings(data_dir, ops_sample_seconds=1.0, image_tag="main-c0ffee"))
    try:
        yield running.start()
    finally:
        running.stop()


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def test_summary_reports_rates_from_the_metrics(server: LiveServer) -> None:
    with server.client() as client:
        for question in ("What is the pool size?", "How do I roll back?"):
            assert client.post("/v1/chat", json={"question": question}).status_code == 200
        time.sleep(1.2)  # at least one sample after the traffic
        summary = client.get("/ops/api/summary").json()
    assert summary["current"]["request_rate"] > 0
    assert summary["current"]["error_rate"] == 0.0
    assert summary["current"]["p95_ms"] is not None and summary["current"]["p95_ms"] > 0
    assert summary["totals"]["requests"] >= 2
    assert summary["version"]["version"] == __version__
    assert summary["version"]["image_tag"] == "main-c0ffee"
    assert summary["readiness"]["status"] == "ready"
    chat = next(r for r in summary["routes"] if r["route"] == "POST /v1/chat")
    assert chat["requests"] >= 2 and chat["errors"] == 0 and chat["error_rate"] == 0.0
    assert not any(r["route"].split()[1].startswith("/ops") for r in summary["routes"])
    assert len(summary["series"]) >= 1
    assert set(summary["series"][-1]) == {
        "t",
        "request_rate",
        "error_rate",
        "p95_ms",
        "cache_hit_rate",
    }


def test_console_page_shows_live_values(server: LiveServer, browser: Any) -> None:
    with server.client() as client:
        for question in ("Where are the runbooks?", "What is an SLO?", "Who is on call?"):
            assert client.post("/v1/chat", json={"question": question}).status_code == 200
        assert client.get("/v1/sessions/00000000-0000-0000-0000-000000000000").status_code == 404
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(server.base_url + "/ops")
        # Polled from here: the page's CSP forbids the eval a string predicate would need.
        deadline = time.monotonic() + 20
        while _number(page.inner_text("#request-rate")) <= 0:
            assert time.monotonic() < deadline, "the console never showed a request rate"
            time.sleep(0.2)
        assert page.inner_text("#ready") == "ready"
        assert __version__ in page.inner_text("#version")
        assert "main-c0ffee" in page.inner_text("#version")
        assert page.inner_text("#p95").endswith("ms")
        assert page.inner_text("#error-rate").endswith("%")
        assert int(page.inner_text("#total-requests")) >= 3
        database = page.locator("#dependencies tr[data-dependency='database'] td")
        assert database.nth(1).inner_text() == "ok"
        assert page.locator("#dependencies tr").count() >= 2
        chat_row = page.locator("#routes tr[data-route='POST /v1/chat'] td")
        assert int(chat_row.nth(2).inner_text()) >= 3
        assert "/" in page.inner_text("#db-pool")
        # The request-rate chart has drawn a line (some pixel is not transparent).
        drawn = page.evaluate(
            """() => {
              const c = document.getElementById('chart-request-rate');
              const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
              for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) return true;
              return false;
            }"""
        )
        assert drawn
        assert page.locator("#auth").is_hidden()
        assert page.inner_text("#message") == ""
    finally:
        page.close()
    assert errors == []


def test_quantile_interpolates_like_prometheus() -> None:
    buckets = {0.1: 50.0, 0.5: 90.0, 1.0: 100.0, math.inf: 100.0}
    assert quantile(0.95, buckets) == pytest.approx(0.75)
    assert quantile(0.5, buckets) == pytest.approx(0.1)
    assert quantile(0.95, {1.0: 10.0, math.inf: 20.0}) == 1.0  # in the +Inf bucket
    assert quantile(0.95, {1.0: 0.0, math.inf: 0.0}) is None


def _gauge_in_progress(client: httpx.Client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("ragops_http_requests_in_progress "):
            return float(line.split()[1])
    raise AssertionError("no ragops_http_requests_in_progress in the scrape")


def _wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.05)


def test_in_flight_tile_and_gauge_count_the_same_requests(tmp_path: Path) -> None:
    """`ragops_http_requests_in_progress` and the console's "In flight" count the same
    requests: an operations request in flight (here a test route under /ops/) is in neither,
    an API request in flight is in both."""
    release = threading.Event()
    running = RunningServer(ops_settings(tmp_path / "var"))
    entered: list[str] = []

    def holder(name: str) -> Callable[[], Any]:
        async def hold() -> dict[str, str]:
            entered.append(name)
            await asyncio.to_thread(release.wait, 20)
            return {"held": name}

        return hold

    app_of(running).add_api_route("/ops/test/hold", holder("ops"))
    app_of(running).add_api_route("/test/hold", holder("api"))
    live = running.start()
    try:
        with live.client() as client, ThreadPoolExecutor(2) as pool:
            assert client.get("/ops/api/summary").json()["in_flight"] == 0
            ops: Future[httpx.Response] = pool.submit(client.get, "/ops/test/hold")
            _wait_until(lambda: entered == ["ops"])
            assert _gauge_in_progress(client) == 0
            assert client.get("/ops/api/summary").json()["in_flight"] == 0
            api: Future[httpx.Response] = pool.submit(client.get, "/test/hold")
            _wait_until(lambda: len(entered) == 2)
            assert _gauge_in_progress(client) == 1
            assert client.get("/ops/api/summary").json()["in_flight"] == 1
            release.set()
            assert ops.result(30).status_code == 200 and api.result(30).status_code == 200
            assert _gauge_in_progress(client) == 0
            assert client.get("/ops/api/summary").json()["in_flight"] == 0
    finally:
        release.set()
        running.stop()
