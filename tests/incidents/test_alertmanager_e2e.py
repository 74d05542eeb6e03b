"""End to end: a real Alertmanager (the shipped routing tree) delivers a P1 alert to a running
ragops on PostgreSQL; ragops opens the incident, and its escalation engine, driven here with a
controllable clock, pages the primary within a minute, the engineering lead after the
response time, stops when the incident is acknowledged, and tells PagerDuty about the
acknowledgement and the resolution. Alertmanager's "resolved" lands on the timeline, and
`ragops incident postmortem` prints the whole timeline.

Receivers on loopback stand in for PagerDuty and the chat webhook (of Alertmanager and of
ragops alike). The alert is posted to Alertmanager's API (no Prometheus needed here; the
alerting e2e test covers Prometheus to Alertmanager).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from ragops.db import Database
from ragops.incidents import clock
from ragops.incidents.escalation import EscalationEngine, paging_context
from ragops.oncall.policy import load_policy
from tests.conftest import REPO_ROOT, RunningServer, free_port, make_settings, pg_database, run_cli
from tests.ops.processes import Process, Receiver, off_loop, wait_until
from tests.ops.support import OpsTools
from tests.ops.test_alerting_e2e import alertmanager_config

pytestmark = pytest.mark.postgres

TOKEN = "e2e-alert-webhook-token-0123456789"
ROUTING_KEY = "e2e0routing0key0000000000000000b"
RAGOPS_PD = "/ragops/pagerduty"
RAGOPS_CHAT = "/ragops/chat"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    running: list[Process] = []
    try:
        yield running
    finally:
        for process in running:
            process.stop()


def chat(receiver: Receiver) -> list[str]:
    return [d.body["text"] for d in receiver.deliveries(RAGOPS_CHAT)]


def pagerduty(receiver: Receiver) -> list[str]:
    return [d.body["event_action"] for d in receiver.deliveries(RAGOPS_PD)]


def test_p1_alert_to_page_escalation_ack_resolution_postmortem(
    tmp_path: Path, receiver: Receiver, processes: list[Process], ops_tools: OpsTools
) -> None:
    subprocess_ok = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    assert subprocess_ok, "scripts/install-ops-tools.sh installs Alertmanager"
    # The spec's policy with P1's off-hours response time equal to its work-hours one, so the
    # timeline below is the same whatever the hour in the policy's time zone (off hours, the
    # 15-minute escalation and update reminder would come due together with the next page).
    policy = yaml.safe_load((REPO_ROOT / "deploy" / "oncall" / "severities.yaml").read_text())
    policy["severities"]["P1"]["response"]["off_minutes"] = policy["severities"]["P1"]["response"][
        "work_minutes"
    ]
    policy_file = tmp_path / "severities.yaml"
    policy_file.write_text(yaml.safe_dump(policy, sort_keys=False))
    with pg_database() as database_url:
        settings = make_settings(
            tmp_path / "var",
            database_url=database_url,
            severity_policy_file=policy_file,
            alert_webhook_token=TOKEN,
            escalation_interval_seconds=0,  # the test drives the engine with its own clock
            public_base_url="http://ragops.test",
            oncall_rotation_file=REPO_ROOT / "deploy" / "oncall" / "rotations.yaml",
            pagerduty_routing_key=ROUTING_KEY,
            pagerduty_events_url=receiver.url + RAGOPS_PD,
            page_slack_webhook_url=receiver.url + RAGOPS_CHAT,
        )
        server = RunningServer(settings)
        live = server.start()
        try:
            run_scenario(tmp_path, settings, live.base_url, live.client, receiver, processes)
        finally:
            server.stop()


def run_scenario(
    tmp: Path,
    settings: Any,
    base_url: str,
    client: Any,
    receiver: Receiver,
    processes: list[Process],
) -> None:
    # Alertmanager: the shipped tree; the page receiver's webhook goes to this ragops.
    secrets = {}
    for name, value in {
        "pagerduty-routing-key": ROUTING_KEY,
        "chat-webhook-url": receiver.url + "/alertmanager/chat",
        "ragops-alert-webhook-token": TOKEN,
    }.items():
        secrets[name] = tmp / name
        secrets[name].write_text(value + "\n")
    config = alertmanager_config(receiver.url, secrets)
    (page,) = [r for r in config["receivers"] if r["name"] == "ragops-page"]
    page["webhook_configs"][0]["url"] = base_url + "/v1/ops/alerts/webhook"
    am_config = tmp / "alertmanager.yml"
    am_config.write_text(yaml.safe_dump(config, sort_keys=False))
    am_port = free_port()
    am_url = f"http://127.0.0.1:{am_port}"
    (tmp / "am-data").mkdir()
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    assert binary
    processes.append(
        Process(
            "alertmanager",
            [
                binary,
                f"--config.file={am_config}",
                f"--storage.path={tmp / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
            ],
            tmp / "alertmanager.log",
            cwd=tmp,
        )
    )
    wait_until(
        lambda: httpx.get(f"{am_url}/-/ready", timeout=2).status_code == 200,
        timeout=30,
        what="Alertmanager ready",
        processes=processes,
    )

    # The incidents' clock, shared with the server thread: it starts 30 minutes back so every
    # simulated step stays before Alertmanager's real "resolved".
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    fake = {"now": start + timedelta(seconds=1)}
    with clock.use(lambda: fake["now"]):
        steps(settings, am_url, client, receiver, processes, start, fake)


def steps(
    settings: Any,
    am_url: str,
    client: Any,
    receiver: Receiver,
    processes: list[Process],
    start: datetime,
    fake: dict[str, datetime],
) -> None:
    alert = {
        "labels": {"alertname": "RagopsDatabaseDown", "severity": "P1", "service": "ragops"},
        "annotations": {
            "summary": "ragops cannot reach its database",
            "description": "The readiness check of the database fails.",
            "runbook_url": "https://runbooks.test/RagopsDatabaseDown",
        },
        "startsAt": start.isoformat(),
    }
    assert httpx.post(f"{am_url}/api/v2/alerts", json=[alert], timeout=5).status_code == 200

    def opened() -> dict[str, Any] | None:
        with client() as http:
            found = http.get("/v1/ops/incidents").json()
        return found[0] if found else None

    incident = wait_until(opened, timeout=60, what="the incident", processes=processes)
    assert incident["severity"] == "P1" and incident["status"] == "triggered"
    assert incident["runbook_url"] == "https://runbooks.test/RagopsDatabaseDown"
    incident_id = incident["id"]
    created = datetime.fromisoformat(incident["created_at"])
    assert created == start + timedelta(seconds=1)

    async def engine_pass() -> int:
        db = Database(settings)
        try:
            engine = EscalationEngine(paging_context(settings, db))
            sent = await engine.run_once()
            for notifier in engine.ctx.notifiers:
                await notifier.aclose()
            return sent
        finally:
            await db.dispose()

    def run_engine(at: datetime) -> int:
        fake["now"] = at
        return off_loop(asyncio.run, engine_pass())

    paged_at = created + timedelta(seconds=20)
    assert run_engine(paged_at) == 2  # PagerDuty and chat, within a minute
    assert pagerduty(receiver) == ["trigger"]
    primary_page = chat(receiver)[0]
    assert f"[P1] Incident {incident_id} triggered" in primary_page
    assert "On call (primary):" in primary_page and "Acknowledge>" in primary_page

    response = load_policy(settings.severity_policy_file).response_time("P1", paged_at)
    assert run_engine(paged_at + response - timedelta(seconds=1)) == 0
    assert run_engine(paged_at + response) == 1  # the engineering lead, by chat
    assert "On call (engineering_lead): @engineering-lead" in chat(receiver)[1]

    fake["now"] = paged_at + response + timedelta(minutes=1)
    with client() as http:
        acked = http.post(
            f"/v1/ops/incidents/{incident_id}/ack", params={"actor": "engineer-on-call"}
        )
        assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    later = paged_at + response + timedelta(minutes=2)
    assert run_engine(later) == 2  # acknowledge to PagerDuty and chat; no further page
    assert run_engine(later + timedelta(minutes=1)) == 0
    assert pagerduty(receiver) == ["trigger", "acknowledge"]

    # The database is back: Alertmanager sends "resolved"; on-call resolves the incident.
    resolved = dict(alert, endsAt=datetime.now(UTC).isoformat())
    assert httpx.post(f"{am_url}/api/v2/alerts", json=[resolved], timeout=5).status_code == 200

    def alert_resolved() -> bool:
        with client() as http:
            timeline = http.get(f"/v1/ops/incidents/{incident_id}").json()["timeline"]
        return any(event["kind"] == "alert_resolved" for event in timeline)

    wait_until(alert_resolved, timeout=60, what="the resolved alert", processes=processes)
    fake["now"] = datetime.now(UTC) + timedelta(minutes=1)
    with client() as http:
        done = http.post(
            f"/v1/ops/incidents/{incident_id}/status",
            json={"status": "resolved", "message": "database back"},
            params={"actor": "engineer-on-call"},
        )
        assert done.json()["status"] == "resolved"
    assert run_engine(fake["now"] + timedelta(seconds=10)) == 2
    assert pagerduty(receiver) == ["trigger", "acknowledge", "resolve"]
    assert {d.body["dedup_key"] for d in receiver.deliveries(RAGOPS_PD)} == {
        f"ragops-incident-{incident_id}"
    }
    postmortem(settings, incident_id, receiver)


def postmortem(settings: Any, incident_id: int, receiver: Receiver) -> None:
    tmp = settings.data_dir.parent
    result = run_cli(
        tmp / "cli",
        "incident",
        "postmortem",
        str(incident_id),
        env={"RAGOPS_DATABASE_URL": settings.database_url},
    )
    text = result.stdout
    (tmp / "postmortem.md").write_text(text)
    kinds = [
        line.split(" | ")[2]
        for line in text.splitlines()
        if line.startswith("| 20") and " | " in line
    ]
    assert kinds == [
        "alert_fired",
        "opened",
        "paged",
        "escalated",
        "paged",
        "acknowledged",
        "notified",
        "alert_resolved",
        "status_changed",
        "notified",
    ], text
    assert "RagopsDatabaseDown fired (P1): ragops cannot reach its database" in text
    assert "acknowledged by engineer-on-call" in text
    print(text)  # the closing note shows this timeline
    print(json.dumps({"chat": chat(receiver)}, indent=1))
