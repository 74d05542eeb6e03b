"""Without Prometheus, the postmortem states the incident window's error rate and p95 from
the service's own request log: two instances sharing one PostgreSQL database answer real
HTTP traffic while an incident opened by the Alertmanager webhook is open, and the figures
cover both instances' requests of that window and nothing after it."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx
from fastapi.responses import JSONResponse

from ragops.observability.request_log import SLOT_SECONDS
from tests.conftest import RunningServer, make_settings, pg_database, run_cli
from tests.incidents.conftest import WEBHOOK_TOKEN, alert, payload
from tests.ops_app.conftest import app_of


async def answer(status: int = 200, sleep: float = 0.0) -> JSONResponse:
    """A test-only route: answers `status` after `sleep` seconds."""
    await asyncio.sleep(sleep)
    return JSONResponse({"status": status}, status_code=status)


def _next_slot() -> None:
    time.sleep(SLOT_SECONDS - time.time() % SLOT_SECONDS + 0.2)


def test_postmortem_figures_from_the_request_log_of_every_instance(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    with pg_database() as url:
        instances = [
            RunningServer(
                make_settings(
                    data_dir / name,  # each its own embedded vector store; one database
                    database_url=url,
                    alert_webhook_token=WEBHOOK_TOKEN,
                    escalation_interval_seconds=0,
                    request_log_flush_seconds=0.5,
                )
            )
            for name in ("a", "b")
        ]
        for running in instances:
            app_of(running).add_api_route("/test/answer", answer)
        try:
            live_first = instances[0].start()
            live_second = instances[1].start()
            with live_first.client() as a, live_second.client() as b:
                _next_slot()  # nothing else in the incident's first slot
                opened = a.post(
                    "/v1/ops/alerts/webhook",
                    json=payload("pm-log", alert("RagopsAvailabilityFastBurn")),
                    headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"},
                )
                assert opened.status_code == 200, opened.text
                incident_id = opened.json()["incident_id"]
                for _ in range(30):
                    assert a.get("/test/answer").status_code == 200
                for _ in range(10):
                    assert b.get("/test/answer", params={"status": 500}).status_code == 500
                for _ in range(10):
                    assert b.get("/test/answer", params={"sleep": 0.6}).status_code == 200
                resolved = b.post(
                    f"/v1/ops/incidents/{incident_id}/status", json={"status": "resolved"}
                )
                assert resolved.status_code == 200, resolved.text

                _next_slot()  # after the incident: must not count
                for _ in range(20):
                    assert a.get("/test/answer", params={"status": 503}).status_code == 503
        finally:
            for running in instances:
                if running.thread.is_alive():
                    running.stop()  # each flushes what it still holds

        env = {"RAGOPS_DATABASE_URL": url}
        text = run_cli(data_dir / "a", "incident", "postmortem", str(incident_id), env=env).stdout

    # 52 requests in the window: the webhook, 30 + 10 + 10 test requests, the resolution.
    figures = re.search(r"- Error rate over the window: ([\d.]+)%; p95 latency: ([\d.]+) s", text)
    assert figures is not None, text
    assert figures.group(1) == f"{100 * 10 / 52:.2f}"
    # Ten slow requests of 0.6 s are the top 19 %: the p95 lies in their (0.5, 1] bucket.
    assert 0.5 < float(figures.group(2)) <= 1.0
    assert "(source: the service's own request log (52 requests, 10 answered 5xx" in text
    assert "on 2 instances" in text
    assert "not measured" not in text


def test_postmortem_figures_of_one_instance_on_sqlite(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    settings = make_settings(data_dir, auth_enabled=False)
    running = RunningServer(settings)
    live = running.start()
    try:
        with httpx.Client(base_url=live.base_url, timeout=30) as client:
            created = client.post(
                "/v1/ops/incidents", json={"title": "quiet incident", "severity": "P3"}
            )
            assert created.status_code == 201, created.text
            incident_id = created.json()["id"]
    finally:
        running.stop()
    text = run_cli(data_dir, "incident", "postmortem", str(incident_id)).stdout
    # The create request itself was answered in the window: one request, no error.
    assert "- Error rate over the window: 0.00%" in text
    assert (
        "(source: the service's own request log (1 request, 0 answered 5xx, on 1 instance;" in text
    )
