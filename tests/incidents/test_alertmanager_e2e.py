"""End to end: a real Alertmanager (the shipped routing tree) delivers a P1 alert to a running
ragops on PostgreSQL; ragops opens the incident, and its escalation engine, driven here with a
controllable clock, pages the primary within a minute, the engineering lead after the
response time, stops when the incident is acknowledged, and tells PagerDuty about the
acknowledgement and the resolution. Alertmanager's "resolved" lands on the timeline, and
`ragops incident postmortem` prints the whole timeline. A P3 alert goes to the team chat and
opens a P3 incident, paged and escalated on P3's timers, in business hours and at night.

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

from ragops.config import Settings
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


async def _engine_pass(settings: Any) -> int:
    db = Database(settings)
    try:
        engine = EscalationEngine(paging_context(settings, db))
        sent = await engine.run_once()
        for notifier in engine.ctx.notifiers:
            await notifier.aclose()
        return sent
    finally:
        await db.dispose()


def engine_pass(settings: Any, fake: dict[str, datetime], at: datetime) -> int:
    """One escalation pass with the incidents' clock at `at`; the pages sent."""
    fake["now"] = at
    return off_loop(asyncio.run, _engine_pass(settings))


def chat(receiver: Receiver) -> list[str]:
    return [d.body["text"] for d in receiver.deliveries(RAGOPS_CHAT)]


def pagerduty(receiver: Receiver) -> list[str]:
    return [d.body["event_action"] for d in receiver.deliveries(RAGOPS_PD)]


def paging_settings(
    tmp_path: Path, database_url: str, policy_file: Path, receiver: Receiver
) -> Settings:
    """ragops on `database_url` paging through the receiver's PagerDuty and chat endpoints,
    with the shipped rotation, `policy_file` and the engine's timer off (the test drives it
    with its own clock)."""
    return make_settings(
        tmp_path / "var",
        database_url=database_url,
        severity_policy_file=policy_file,
        alert_webhook_token=TOKEN,
        escalation_interval_seconds=0,
        public_base_url="http://ragops.test",
        oncall_rotation_file=REPO_ROOT / "deploy" / "oncall" / "rotations.yaml",
        pagerduty_routing_key=ROUTING_KEY,
        pagerduty_events_url=receiver.url + RAGOPS_PD,
        page_slack_webhook_url=receiver.url + RAGOPS_CHAT,
    )


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
        settings = paging_settings(tmp_path, database_url, policy_file, receiver)
        server = RunningServer(settings)
        live = server.start()
        try:
            run_scenario(tmp_path, settings, live.base_url, live.client, receiver, processes)
        finally:
            server.stop()


def start_alertmanager(
    tmp: Path, base_url: str, receiver: Receiver, processes: list[Process]
) -> str:
    """Alertmanager on the shipped tree, its URL; every service webhook (the page's, P3's and
    the digest's) goes to the ragops at `base_url`, the rest to `receiver`."""
    secrets = {}
    for name, value in {
        "pagerduty-routing-key": ROUTING_KEY,
        "chat-webhook-url": receiver.url + "/alertmanager/chat",
        "ragops-alert-webhook-token": TOKEN,
    }.items():
        secrets[name] = tmp / name
        secrets[name].write_text(value + "\n")
    config = alertmanager_config(receiver.url, secrets)
    hooks = [hook for r in config["receivers"] for hook in r.get("webhook_configs", [])]
    assert len(hooks) == 3  # the page, the P3 incident and the daily digest
    for hook in hooks:
        hook["url"] = base_url + "/v1/ops/alerts/webhook"
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
    return am_url


def run_scenario(
    tmp: Path,
    settings: Any,
    base_url: str,
    client: Any,
    receiver: Receiver,
    processes: list[Process],
) -> None:
    am_url = start_alertmanager(tmp, base_url, receiver, processes)

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

    def run_engine(at: datetime) -> int:
        return engine_pass(settings, fake, at)

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


# --- P3: the chat and an incident, paged and escalated on P3's timers ------------------------

# The shipped policy (deploy/oncall/severities.yaml): business hours Monday-Friday 09:00-17:00
# Europe/Berlin. A Wednesday in winter (UTC+1): 10:00 and 23:00 there.
WORK_HOURS = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
NIGHT = datetime(2026, 12, 2, 22, 0, tzinfo=UTC)
AM_CHAT = "/alertmanager/chat"


def p3_alert(name: str, **labels: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, "severity": "P3", "service": "ragops", **labels},
        "annotations": {
            "summary": f"{name} summary",
            "description": f"{name} description",
            "runbook_url": f"https://runbooks.test/{name}",
        },
        "startsAt": datetime.now(UTC).isoformat(),
    }


def alertmanager_chat(receiver: Receiver, name: str) -> list[str]:
    """Titles of the chat messages Alertmanager sent about `name`."""
    return [
        attachment["title"]
        for d in receiver.deliveries(AM_CHAT)
        for attachment in d.body["attachments"]
        if attachment["title"].endswith(f"] {name}")
    ]


def test_p3_alert_opens_an_incident_paged_and_escalated_on_p3_timers(
    tmp_path: Path, receiver: Receiver, processes: list[Process], ops_tools: OpsTools
) -> None:
    """A P3 alert goes to the team chat and opens a P3 incident; the engine pages the primary
    at once (PagerDuty severity `warning`), in work hours as at night, and escalates on P3's
    timers: in work hours the lead after 30 minutes unacknowledged; at night nothing for an
    hour (60 minutes to acknowledge off hours), then the lead (the 1-hour escalation delay)
    and the VP (the primary's 60 minutes) together. A second alert of the group joins the
    incident; a resolved alert reaches its timeline."""
    policy_file = REPO_ROOT / "deploy" / "oncall" / "severities.yaml"
    policy = load_policy(policy_file)
    assert policy.business_hours.is_work_time(WORK_HOURS)
    assert not policy.business_hours.is_work_time(NIGHT)
    with pg_database() as database_url:
        settings = paging_settings(tmp_path, database_url, policy_file, receiver)
        server = RunningServer(settings)
        live = server.start()
        try:
            am_url = start_alertmanager(tmp_path, live.base_url, receiver, processes)
            fake = {"now": WORK_HOURS}
            with clock.use(lambda: fake["now"]):
                p3_steps(settings, am_url, live.client, receiver, processes, fake)
        finally:
            server.stop()


def p3_steps(
    settings: Any,
    am_url: str,
    client: Any,
    receiver: Receiver,
    processes: list[Process],
    fake: dict[str, datetime],
) -> None:
    def post(*alerts: dict[str, Any]) -> None:
        response = httpx.post(f"{am_url}/api/v2/alerts", json=list(alerts), timeout=5)
        assert response.status_code == 200, response.text

    def incident(number: int) -> dict[str, Any]:
        with client() as http:
            found: dict[str, Any] = http.get(f"/v1/ops/incidents/{number}").json()
        return found

    def opened(name: str) -> dict[str, Any] | None:
        with client() as http:
            found = http.get("/v1/ops/incidents", params={"status": "all"}).json()
        return next((i for i in found if i["title"].startswith(f"{name}: ")), None)

    def run_engine(at: datetime) -> int:
        return engine_pass(settings, fake, at)

    def events(number: int, kind: str) -> list[str]:
        return [e["message"] for e in incident(number)["timeline"] if e["kind"] == kind]

    def pd_events(number: int) -> list[dict[str, Any]]:
        return [
            d.body
            for d in receiver.deliveries(RAGOPS_PD)
            if d.body["dedup_key"] == f"ragops-incident-{number}"
        ]

    # Work hours: the chat message and a P3 incident.
    fake["now"] = WORK_HOURS
    name = "RagopsRedisDown"
    post(p3_alert(name))
    found = wait_until(
        lambda: opened(name), timeout=60, what="the P3 incident", processes=processes
    )
    wait_until(
        lambda: alertmanager_chat(receiver, name), timeout=60, what="the chat", processes=processes
    )
    assert alertmanager_chat(receiver, name) == [f"[FIRING] [P3] {name}"]
    day = found["id"]
    assert found["severity"] == "P3" and found["status"] == "triggered"
    assert found["runbook_url"] == f"https://runbooks.test/{name}"
    assert datetime.fromisoformat(found["created_at"]) == WORK_HOURS

    paged = WORK_HOURS + timedelta(seconds=20)
    assert run_engine(paged) == 2  # PagerDuty and chat, at once
    (trigger,) = pd_events(day)
    assert trigger["event_action"] == "trigger" and trigger["payload"]["severity"] == "warning"
    assert f"[P3] Incident {day} triggered" in chat(receiver)[0]
    assert "On call (primary):" in chat(receiver)[0]
    assert run_engine(paged + timedelta(minutes=30) - timedelta(seconds=1)) == 0
    assert run_engine(paged + timedelta(minutes=30)) == 1  # the engineering lead, by chat
    assert "On call (engineering_lead): @engineering-lead" in chat(receiver)[1]
    assert events(day, "escalated") == [
        "Not acknowledged within 30 min: escalated to engineering_lead."
    ]
    fake["now"] = paged + timedelta(minutes=31)
    with client() as http:
        acked = http.post(f"/v1/ops/incidents/{day}/ack", params={"actor": "engineer-on-call"})
        assert acked.status_code == 200, acked.text
    assert run_engine(paged + timedelta(minutes=32)) == 2  # acknowledge to PagerDuty and chat

    # Alertmanager's "resolved" reaches the incident (the P3 webhook sends resolved alerts).
    post(dict(p3_alert(name), endsAt=datetime.now(UTC).isoformat()))
    wait_until(
        lambda: events(day, "alert_resolved"),
        timeout=60,
        what="the resolved alert",
        processes=processes,
    )
    fake["now"] = paged + timedelta(minutes=40)
    with client() as http:
        done = http.post(
            f"/v1/ops/incidents/{day}/status",
            json={"status": "resolved", "message": "redis back"},
            params={"actor": "engineer-on-call"},
        )
        assert done.status_code == 200, done.text
    assert run_engine(paged + timedelta(minutes=41)) == 2  # resolve to PagerDuty and chat
    assert [e["event_action"] for e in pd_events(day)] == ["trigger", "acknowledge", "resolve"]

    # At night: paged at once all the same, then 60 minutes to acknowledge.
    fake["now"] = NIGHT
    name = "RagopsDBPoolWaiters"
    post(p3_alert(name, instance="ragops-1"))
    found = wait_until(
        lambda: opened(name), timeout=60, what="the P3 incident", processes=processes
    )
    night = found["id"]
    assert found["severity"] == "P3" and night != day
    # A second alert of the group (another instance) joins the open incident.
    post(p3_alert(name, instance="ragops-2"))
    wait_until(
        lambda: len(incident(night)["alerts"]) == 2,
        timeout=60,
        what="the second alert",
        processes=processes,
    )
    assert opened(name)["id"] == night
    sent = len(chat(receiver))
    assert run_engine(NIGHT + timedelta(seconds=20)) == 2
    (trigger,) = pd_events(night)
    assert trigger["payload"]["severity"] == "warning"
    assert "On call (primary):" in chat(receiver)[sent]
    assert run_engine(NIGHT + timedelta(minutes=30)) == 0  # off hours: 60 min, not 30
    assert run_engine(NIGHT + timedelta(minutes=59)) == 0
    # Unresolved after 1 hour: the lead (chat), and an update is due (chat, to the primary).
    assert run_engine(NIGHT + timedelta(minutes=60)) == 2
    lead, reminder = chat(receiver)[sent + 1 :]
    assert "On call (engineering_lead): @engineering-lead" in lead
    assert "Unresolved after 60 min: engaging engineering_lead." in lead
    assert "A status update is due (every 60 min for P3)" in reminder
    # The lead engaged by the escalation delay gets its own 60 minutes before the VP (the
    # primary's 60 minutes, which end 20 s later, page nobody more).
    assert run_engine(NIGHT + timedelta(minutes=60, seconds=20)) == 0
    assert run_engine(NIGHT + timedelta(minutes=119)) == 0
    assert run_engine(NIGHT + timedelta(minutes=120)) == 2  # the VP and the hourly reminder
    vp = chat(receiver)[sent + 3]
    assert "On call (vp):" in vp and "Not acknowledged within 60 min: escalated to vp." in vp
    assert events(night, "escalated") == [
        "Unresolved after 60 min: engaging engineering_lead.",
        "Not acknowledged within 60 min: escalated to vp.",
    ]
    assert len(pd_events(night)) == 1  # PagerDuty runs its own escalation: the first page only
