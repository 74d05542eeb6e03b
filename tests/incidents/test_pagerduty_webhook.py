"""PagerDuty's webhook (Generic Webhooks V3) over real HTTP, on SQLite and PostgreSQL: an
incident acknowledged in PagerDuty is acknowledged in ragops and its escalation stops, one
resolved there is resolved here; repeated, late, foreign and unsigned deliveries change
nothing; malformed ones are a 422 naming the field. A loopback receiver stands in for the
PagerDuty Events API, so the test sees what ragops sends back."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from ragops.db import Database
from ragops.incidents.escalation import EscalationEngine, paging_context
from tests.conftest import BACKENDS, LiveServer, RunningServer, backend_settings, run_sync
from tests.incidents.receivers import Receiver, http_receiver
from tests.security.support import audit_rows

HOOK = "/v1/ops/pagerduty/webhook"
SECRET = "pd-webhook-secret-0123456789abcdef"  # pragma: allowlist secret
OLD_SECRET = "pd-webhook-old-secret-fedcba987654"  # pragma: allowlist secret
EVENTS = "/v2/enqueue"


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def receiver(backend: str) -> Iterator[Receiver]:
    """The PagerDuty Events API of one backend's server (incident numbers start at 1 on
    each database)."""
    with http_receiver() as started:
        yield started


@pytest.fixture(scope="module")
def server(
    backend: str, tmp_path_factory: pytest.TempPathFactory, receiver: Receiver
) -> Iterator[LiveServer]:
    """The app with the webhook's secret and PagerDuty as its paging channel (the receiver);
    the escalation engine's timer is off (the tests run its passes)."""
    data_dir: Path = tmp_path_factory.mktemp("pagerduty") / "var"
    with backend_settings(
        backend,
        data_dir,
        pagerduty_webhook_secret=SECRET,
        pagerduty_routing_key="pd0routing0key000000000000000000",  # pragma: allowlist secret
        pagerduty_events_url=receiver.url + EVENTS,
        escalation_interval_seconds=0,
        public_base_url="http://ragops.test",
    ) as settings:
        running = RunningServer(settings)
        try:
            yield running.start()
        finally:
            running.stop()


def sign(body: bytes, secret: str = SECRET) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery(
    event_type: str,
    incident_key: str | None,
    *,
    agent: str | None = "Jane Doe",
    occurred: datetime | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """A V3 delivery as PagerDuty sends it (the fields ragops reads and some it does not)."""
    data: dict[str, Any] = {
        "id": "Q1" + uuid.uuid4().hex[:10].upper(),
        "type": "incident",
        "self": "https://api.pagerduty.com/incidents/Q1ABC",
        "number": 42,
        "status": event_type.rsplit(".", 1)[-1],
        "title": "ragops incident",
        "urgency": "high",
    }
    if incident_key is not None:
        data["incident_key"] = incident_key
    return {
        "event": {
            "id": event_id or str(uuid.uuid4()),
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": (occurred or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
            "agent": None
            if agent is None
            else {"id": "PUSER01", "type": "user_reference", "summary": agent},
            "client": {"name": "PagerDuty"},
            "data": data,
        }
    }


def post(
    server: LiveServer, body: dict[str, Any] | bytes, *, signature: str | None = ""
) -> httpx.Response:
    """POST a delivery signed with the secret (`signature` None: no header; a string: that
    header instead)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if signature is not None:  # Latin-1, as HTTP carries header bytes beyond ASCII
        headers["X-PagerDuty-Signature"] = (signature or sign(raw)).encode("latin-1")  # type: ignore[assignment]
    with server.client(authenticated=False) as client:
        return client.post(HOOK, content=raw, headers=headers)


def declare(server: LiveServer, severity: str = "P3") -> int:
    with server.client() as client:
        made = client.post("/v1/ops/incidents", json={"title": "Disk full", "severity": severity})
        assert made.status_code == 201, made.text
        return int(made.json()["id"])


def detail(server: LiveServer, incident_id: int) -> dict[str, Any]:
    with server.client() as client:
        found = client.get(f"/v1/ops/incidents/{incident_id}")
        assert found.status_code == 200, found.text
        return found.json()


def engine_pass(server: LiveServer, at: datetime) -> int:
    """One pass of the escalation engine at `at`, as the service runs it."""

    async def run() -> int:
        db = Database(server.settings)
        try:
            engine = EscalationEngine(paging_context(server.settings, db), clock=lambda: at)
            sent = await engine.run_once()
            for notifier in engine.ctx.notifiers:
                await notifier.aclose()
            return sent
        finally:
            await db.dispose()

    return run_sync(run())


def sent_to_pagerduty(receiver: Receiver, incident_id: int) -> list[str]:
    key = f"ragops-incident-{incident_id}"
    return [
        d.body["event_action"] for d in receiver.deliveries(EVENTS) if d.body["dedup_key"] == key
    ]


def not_acknowledged_escalations(seen: dict[str, Any]) -> list[str]:
    return [
        e["message"]
        for e in seen["timeline"]
        if e["kind"] == "escalated" and e["message"].startswith("Not acknowledged")
    ]


def test_acknowledged_in_pagerduty_stops_the_escalation(
    server: LiveServer, receiver: Receiver
) -> None:
    acked_id, control_id = declare(server), declare(server)
    opened = datetime.fromisoformat(detail(server, acked_id)["created_at"])
    assert engine_pass(server, opened + timedelta(seconds=20)) >= 2
    assert sent_to_pagerduty(receiver, acked_id) == ["trigger"]

    ack = delivery("incident.acknowledged", f"ragops-incident-{acked_id}")
    answer = post(server, ack)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "outcome": "applied",
        "incident_id": acked_id,
        "status": "acknowledged",
        "reason": "incident.acknowledged by Jane Doe",
    }
    seen = detail(server, acked_id)
    assert seen["status"] == "acknowledged" and seen["commander"] == "pagerduty:Jane Doe"
    [event] = [e for e in seen["timeline"] if e["kind"] == "acknowledged"]
    assert event["actor"] == "pagerduty:Jane Doe"
    assert event["message"] == "acknowledged in PagerDuty by Jane Doe"
    assert event["detail"]["pagerduty_event"] == ack["event"]["id"]

    # long past the response time (P3: 30 min, 60 off hours): only the control escalates
    later = opened + timedelta(minutes=90)
    engine_pass(server, later)
    assert not_acknowledged_escalations(detail(server, control_id))
    assert not_acknowledged_escalations(detail(server, acked_id)) == []
    # ragops tells its channels, PagerDuty included (there it changes nothing), once
    engine_pass(server, later + timedelta(minutes=1))
    assert sent_to_pagerduty(receiver, acked_id) == ["trigger", "acknowledge"]

    # PagerDuty delivers at least once; and may echo ragops's own acknowledge back
    again = post(server, ack).json()
    assert again["outcome"] == "ignored" and "applied already" in again["reason"]
    echo = delivery("incident.acknowledged", f"ragops-incident-{acked_id}", agent="ragops (API)")
    assert post(server, echo).json()["reason"] == f"incident {acked_id} is already acknowledged"
    assert (
        len([e for e in detail(server, acked_id)["timeline"] if e["kind"] == "acknowledged"]) == 1
    )

    resolved = delivery("incident.resolved", f"ragops-incident-{acked_id}", agent="John Roe")
    assert post(server, resolved).json()["status"] == "resolved"
    seen = detail(server, acked_id)
    assert seen["status"] == "resolved" and seen["resolved_at"] is not None
    [closing] = [e for e in seen["timeline"] if e["actor"] == "pagerduty:John Roe"]
    assert closing["kind"] == "status_changed"
    assert closing["message"] == "acknowledged -> resolved: resolved in PagerDuty by John Roe"
    assert (closing["detail"]["from"], closing["detail"]["to"]) == ("acknowledged", "resolved")
    assert post(server, resolved).json()["outcome"] == "ignored"
    engine_pass(server, later + timedelta(minutes=2))
    engine_pass(server, later + timedelta(minutes=3))
    assert sent_to_pagerduty(receiver, acked_id) == ["trigger", "acknowledge", "resolve"]


def test_resolved_in_pagerduty_resolves_a_triggered_incident(server: LiveServer) -> None:
    incident_id = declare(server, "P2")
    body = delivery("incident.resolved", f"ragops-incident-{incident_id}", agent=None)
    answer = post(server, body).json()
    assert (answer["outcome"], answer["status"]) == ("applied", "resolved")
    seen = detail(server, incident_id)
    assert seen["status"] == "resolved" and seen["acknowledged_at"] is not None
    assert seen["commander"] == "pagerduty:PagerDuty"  # no agent: PagerDuty itself
    late_ack = delivery("incident.acknowledged", f"ragops-incident-{incident_id}")
    assert post(server, late_ack).json()["reason"] == f"incident {incident_id} is already resolved"


def test_an_event_from_before_a_reopening_changes_nothing(server: LiveServer) -> None:
    """The echo of a resolution sent before the incident was reopened arrives late: the
    reopened incident stays open; an event of the new round applies."""
    incident_id = declare(server)
    with server.client() as client:
        for status in ("resolved", "triggered"):
            moved = client.post(f"/v1/ops/incidents/{incident_id}/status", json={"status": status})
            assert moved.status_code == 200, moved.text
    reopened = max(
        datetime.fromisoformat(e["at"])
        for e in detail(server, incident_id)["timeline"]
        if e["kind"] == "status_changed"
    )
    key = f"ragops-incident-{incident_id}"
    stale = delivery("incident.resolved", key, occurred=reopened - timedelta(seconds=5))
    answer = post(server, stale).json()
    assert (
        answer["outcome"] == "ignored" and "before the incident's current round" in answer["reason"]
    )
    assert detail(server, incident_id)["status"] == "triggered"
    fresh = delivery("incident.acknowledged", key, occurred=reopened + timedelta(seconds=1))
    assert post(server, fresh).json()["status"] == "acknowledged"


def test_other_events_and_foreign_incidents_are_ignored(server: LiveServer) -> None:
    incident_id = declare(server)
    for body, reason in (
        (delivery("incident.triggered", f"ragops-incident-{incident_id}"), "not acted on"),
        (delivery("incident.annotated", None), "not acted on"),
        (delivery("incident.acknowledged", None), "no incident_key of a ragops incident"),
        (delivery("incident.acknowledged", "d3640fbd41094207a1c1"), "no incident_key"),
        (delivery("incident.resolved", "ragops-incident-0"), "no incident_key"),
        (delivery("incident.resolved", "ragops-incident-99999999999"), "no incident_key"),
        (delivery("incident.resolved", "ragops-incident-2147483000"), "no incident 2147483000"),
    ):
        answer = post(server, body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["outcome"] == "ignored" and reason in answer.json()["reason"]
    ping = delivery("pagey.ping", None, agent=None)
    ping["event"]["data"] = {"message": "Hello from your friend Pagey!", "type": "ping"}
    assert post(server, ping).json()["outcome"] == "ignored"
    no_data = delivery("service.updated", None)
    no_data["event"]["data"] = None
    assert post(server, no_data).json()["outcome"] == "ignored"
    assert detail(server, incident_id)["status"] == "triggered"


def test_concurrent_deliveries_of_one_event_apply_once(server: LiveServer) -> None:
    incident_id = declare(server)
    raw = json.dumps(delivery("incident.acknowledged", f"ragops-incident-{incident_id}")).encode()
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: post(server, raw), range(4)))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert sorted(a.json()["outcome"] for a in answers) == ["applied"] + ["ignored"] * 3
    timeline = detail(server, incident_id)["timeline"]
    assert len([e for e in timeline if e["kind"] == "acknowledged"]) == 1


def failures() -> float:
    found = REGISTRY.get_sample_value(
        "ragops_auth_failures_total", {"reason": "pagerduty_signature"}
    )
    return found or 0.0


def test_only_a_signed_delivery_gets_in(server: LiveServer) -> None:
    incident_id = declare(server)
    body = delivery("incident.acknowledged", f"ragops-incident-{incident_id}")
    raw = json.dumps(body).encode()
    before = failures()
    refused = [
        post(server, raw, signature=None),
        post(server, raw, signature=sign(raw, OLD_SECRET)),
        post(server, raw, signature=sign(raw + b" ")),
        post(server, raw, signature="v0=" + sign(raw)[3:]),
        post(server, raw, signature="v1=zz\u00e9"),
        post(server, raw.replace(b"Jane", b"Eve!"), signature=sign(raw)),
    ]
    for answer in refused:
        assert answer.status_code == 401, answer.text
        assert "X-PagerDuty-Signature" in answer.json()["error"]["message"]
    assert failures() == before + len(refused)
    # audited as failed keys are: the first of each kind at once, the rest of the minute as
    # one summary later (a flood of forged deliveries writes a row a minute, not one each)
    events = [e for e in audit_rows(server.settings, "auth.failure") if e.target == f"POST {HOOK}"]
    assert [e.detail for e in events] == [
        {"reason": "pagerduty_signature", "signature": "missing"},
        {"reason": "pagerduty_signature", "signature": "mismatch"},
    ]
    assert all(e.outcome == "denied" and e.client_address == "127.0.0.1" for e in events)
    assert SECRET not in json.dumps([e.detail for e in events])
    assert detail(server, incident_id)["status"] == "triggered"

    # while a secret is rotated PagerDuty signs with both; any one matching is enough
    rotating = f"{sign(raw, OLD_SECRET)}, {sign(raw).upper().replace('V1=', 'v1=')}"
    assert post(server, raw, signature=rotating).json()["outcome"] == "applied"


def test_a_malformed_delivery_is_422_naming_the_field(server: LiveServer) -> None:
    good = delivery("incident.acknowledged", "ragops-incident-1")
    naive = json.loads(json.dumps(good))
    naive["event"]["occurred_at"] = "2026-12-06T10:00:00"
    no_time = json.loads(json.dumps(good))
    del no_time["event"]["occurred_at"]
    bad_data = json.loads(json.dumps(good))
    bad_data["event"]["data"] = ["not", "an", "object"]
    for raw, field in (
        (json.dumps(naive).encode(), "event.occurred_at"),
        (json.dumps(no_time).encode(), "event.occurred_at"),
        (json.dumps(bad_data).encode(), "event.data"),
        (b"{}", "event"),
        (json.dumps({"event": {"id": "", "event_type": "x"}}).encode(), "event.id"),
    ):
        answer = post(server, raw)
        assert answer.status_code == 422, answer.text
        assert field in answer.json()["error"]["message"], answer.text
    for raw in (b"{not json", b"\xff\xfe{}", b""):
        answer = post(server, raw)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] in ("invalid_body", "validation_error")
    # the signature is checked first: an unsigned body of the wrong shape is a 401
    assert post(server, b"{}", signature=None).status_code == 401


def test_the_webhook_is_off_without_its_secret(tmp_path: Path) -> None:
    with backend_settings("sqlite", tmp_path / "var") as settings:
        running = RunningServer(settings)
        live = running.start()
        try:
            raw = json.dumps(delivery("incident.acknowledged", "ragops-incident-1")).encode()
            answer = post(live, raw)
            assert answer.status_code == 404, answer.text
            assert "RAGOPS_PAGERDUTY_WEBHOOK_SECRET" in answer.json()["error"]["message"]
        finally:
            running.stop()
