"""The Alertmanager webhook over HTTP, on SQLite and PostgreSQL: a firing group opens an
incident (or attaches to the open one), resolved alerts add events, duplicates and
out-of-order deliveries change nothing, and only the token or an admin key gets in."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.conftest import LiveServer, create_api_key
from tests.incidents.conftest import WEBHOOK_TOKEN, alert, payload

HOOK = "/v1/ops/alerts/webhook"


def post(server: LiveServer, body: dict[str, Any], token: str = WEBHOOK_TOKEN) -> httpx.Response:
    with server.client(authenticated=False) as client:
        return client.post(HOOK, json=body, headers={"Authorization": f"Bearer {token}"})


def detail(server: LiveServer, incident_id: int) -> dict[str, Any]:
    with server.client() as client:
        response = client.get(f"/v1/ops/incidents/{incident_id}")
        assert response.status_code == 200, response.text
        return response.json()


def test_firing_group_opens_then_attaches_and_resolves(server: LiveServer) -> None:
    group = f'{{}}:{{alertname="Burn-{uuid.uuid4().hex[:6]}"}}'
    first = alert(fingerprint=uuid.uuid4().hex[:16])
    opened = post(server, payload(group, first))
    assert opened.status_code == 200, opened.text
    body = opened.json()
    assert body["opened"] is True and body["events"] == 1
    incident_id = body["incident_id"]

    again = post(server, payload(group, first)).json()
    assert again == {"incident_id": incident_id, "opened": False, "events": 0}

    second = alert(
        "RagopsDatabaseDown",
        fingerprint=uuid.uuid4().hex[:16],
        severity="P2",
        starts="2026-12-03T10:01:00Z",
    )
    attached = post(server, payload(group, first, second)).json()
    assert attached == {"incident_id": incident_id, "opened": False, "events": 1}

    resolved = dict(first, status="resolved", endsAt="2026-12-03T10:20:00Z")
    assert post(server, payload(group, resolved, second)).json()["events"] == 1
    assert post(server, payload(group, resolved, second)).json()["events"] == 0
    late_firing = post(server, payload(group, first, second)).json()  # out of order
    assert late_firing["events"] == 0

    seen = detail(server, incident_id)
    assert seen["severity"] == "P1" and seen["status"] == "triggered"
    assert seen["title"] == "RagopsAvailabilityFastBurn: RagopsAvailabilityFastBurn summary"
    assert seen["runbook_url"] == "https://runbooks.test/RagopsAvailabilityFastBurn"
    kinds = [(e["kind"], e["actor"]) for e in seen["timeline"]]
    assert kinds == [
        ("alert_fired", "alertmanager"),
        ("alert_fired", "alertmanager"),
        ("alert_resolved", "alertmanager"),
        ("opened", "alertmanager"),  # received now; the alerts carry their own times
    ]
    assert seen["timeline"][0]["at"] == "2026-12-03T10:00:00Z"
    assert seen["timeline"][2]["at"] == "2026-12-03T10:20:00Z"
    assert {a["status"] for a in seen["alerts"]} == {"firing", "resolved"}


def test_resolved_before_firing_opens_nothing(server: LiveServer) -> None:
    group = f"group-{uuid.uuid4().hex}"
    fired = alert(fingerprint=uuid.uuid4().hex[:16], severity="P2")
    resolved = dict(fired, status="resolved", endsAt="2026-12-03T10:05:00Z")
    assert post(server, payload(group, resolved)).json()["incident_id"] is None
    assert post(server, payload(group, fired)).json() == {
        "incident_id": None,
        "opened": False,
        "events": 0,
    }


def test_a_new_more_severe_alert_raises_the_severity(server: LiveServer) -> None:
    group = f"group-{uuid.uuid4().hex}"
    low = alert(fingerprint=uuid.uuid4().hex[:16], severity="P3")
    incident_id = post(server, payload(group, low)).json()["incident_id"]
    high = alert("RagopsAllInstancesDown", fingerprint=uuid.uuid4().hex[:16], severity="P1")
    post(server, payload(group, low, high))
    seen = detail(server, incident_id)
    assert seen["severity"] == "P1"
    assert any(
        e["kind"] == "severity_changed" and e["message"].startswith("P3 -> P1")
        for e in seen["timeline"]
    )


def test_concurrent_deliveries_open_one_incident(server: LiveServer) -> None:
    group = f"group-{uuid.uuid4().hex}"
    body = payload(group, alert(fingerprint=uuid.uuid4().hex[:16]))
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: post(server, body), range(4)))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert len({a.json()["incident_id"] for a in answers}) == 1
    assert sum(a.json()["opened"] for a in answers) == 1
    # the deliveries that attached used no incident number: the next incident is the next one
    other = post(server, payload(f"group-{uuid.uuid4().hex}", alert(fingerprint=uuid.uuid4().hex)))
    assert other.json()["incident_id"] == answers[0].json()["incident_id"] + 1, other.text


def test_authentication_and_bad_payloads(server: LiveServer) -> None:
    body = payload(f"group-{uuid.uuid4().hex}", alert(fingerprint=uuid.uuid4().hex[:16]))
    with server.client(authenticated=False) as client:
        assert client.post(HOOK, json=body).status_code == 401
    assert post(server, body, token="wrong-token").status_code == 401
    chat_key = create_api_key(server.settings, scopes=("chat",))
    assert post(server, body, token=chat_key).status_code == 403
    assert server.api_key is not None
    assert post(server, body, token=server.api_key).status_code == 200
    bad = post(server, dict(body, version="3"))
    assert bad.status_code == 422 and "version" in bad.json()["error"]["message"]
    broken = post(server, dict(body, alerts=[{"status": "firing"}]))
    assert broken.status_code == 422
    assert post(server, {"nonsense": True}).status_code == 422


def test_a_runbook_link_longer_than_its_column_is_left_out(server: LiveServer) -> None:
    """An annotation is the rule author's text: an over-long `runbook_url` must not cost the
    page (PostgreSQL refused the insert with a 500); a later alert's link fills it in."""
    group = f"group-{uuid.uuid4().hex}"
    long_link = alert(fingerprint=uuid.uuid4().hex[:16])
    long_link["annotations"]["runbook_url"] = "https://runbooks.test/" + "r" * 2000
    opened = post(server, payload(group, long_link))
    assert opened.status_code == 200, opened.text
    incident_id = opened.json()["incident_id"]
    assert detail(server, incident_id)["runbook_url"] is None
    later = alert(fingerprint=uuid.uuid4().hex[:16], starts="2026-12-03T10:05:00Z")
    assert post(server, payload(group, later)).status_code == 200
    assert detail(server, incident_id)["runbook_url"] == later["annotations"]["runbook_url"]


def test_a_time_without_its_offset_is_refused_naming_the_field(server: LiveServer) -> None:
    """Alertmanager always sends RFC 3339 times with their offset (`Z` or `+01:00`); a
    `startsAt` or `endsAt` without one is not Alertmanager's and is refused, not guessed."""
    group = f"group-{uuid.uuid4().hex}"
    for field, value in (
        ("startsAt", "2026-12-03T10:00:00"),
        ("endsAt", "2026-12-03T10:20:00.123"),
        ("startsAt", "2026-12-03"),
    ):
        body = payload(group, dict(alert(fingerprint=uuid.uuid4().hex[:16]), **{field: value}))
        refused = post(server, body)
        assert refused.status_code == 422, refused.text
        message = refused.json()["error"]["message"]
        assert message.startswith(f"alerts.0.{field}: ") and "offset" in message, message
    # What Alertmanager sends: `Z`, an offset, nanoseconds, and the zero time for "no end".
    for starts, ends in (
        ("2026-12-03T10:00:00.123456789Z", "0001-01-01T00:00:00Z"),
        ("2026-12-03T11:00:00+01:00", "2026-12-03T11:30:00.5+01:00"),
    ):
        sent = alert(fingerprint=uuid.uuid4().hex[:16], starts=starts, ends=ends)
        accepted = post(server, payload(f"group-{uuid.uuid4().hex}", sent))
        assert accepted.status_code == 200, accepted.text
