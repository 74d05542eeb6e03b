"""The incident API (admin scope): declare, acknowledge, notes, severity, status moves with
reopen, fields, action items; precise 4xx for what cannot be done."""

from __future__ import annotations

from tests.conftest import REPO_ROOT, LiveServer, create_api_key


def test_lifecycle_over_the_api(server: LiveServer) -> None:
    with server.client() as client:
        created = client.post(
            "/v1/ops/incidents",
            json={"title": "Answers slow", "severity": "P2"},
            params={"actor": "responder-a"},
        )
        assert created.status_code == 201, created.text
        incident_id = created.json()["id"]
        url = f"/v1/ops/incidents/{incident_id}"
        ack = client.post(f"{url}/ack", params={"actor": "responder-a"}).json()
        assert ack["status"] == "acknowledged" and ack["commander"] == "responder-a"
        assert client.post(f"{url}/ack").json()["acknowledged_at"] == ack["acknowledged_at"]
        note = client.post(f"{url}/notes", json={"message": "Rolling back", "status_update": True})
        assert note.json()["last_update"] == "Rolling back"
        assert client.post(f"{url}/severity", json={"severity": "P1"}).json()["severity"] == "P1"
        patched = client.patch(
            url,
            json={
                "customer_facing": True,
                "participants": ["responder-b"],
                "impact": "Half of the answers failed",
            },
        )
        assert patched.json()["customer_facing"] is True
        resolved = client.post(f"{url}/status", json={"status": "resolved", "message": "fixed"})
        assert resolved.json()["status"] == "resolved" and resolved.json()["mitigated_at"]
        backwards = client.post(f"{url}/status", json={"status": "mitigated"})
        assert backwards.status_code == 409 and backwards.json()["error"]["code"] == "conflict"
        reopened = client.post(f"{url}/status", json={"status": "triggered"}).json()
        assert reopened["status"] == "triggered" and reopened["resolved_at"] is None
        item = client.post(
            f"{url}/action-items",
            json={
                "description": "Alert on pool saturation",
                "owner": "responder-b",
                "due": "2026-12-20",
            },
        )
        assert item.status_code == 201
        listed = client.get("/v1/ops/action-items").json()
        assert any(i["id"] == item.json()["id"] for i in listed)
        timeline = client.get(url).json()["timeline"]
        kinds = [e["kind"] for e in timeline]
        assert kinds == [
            "opened",
            "acknowledged",
            "note",
            "severity_changed",
            "updated",
            "status_changed",
            "status_changed",
            "action_item",
        ]
        assert timeline[1]["actor"] == "responder-a"
        assert (
            client.get("/v1/ops/incidents", params={"status": "open"}).json()[0]["id"]
            == incident_id
        )
        metrics = client.get("/metrics").text
    # the incident was opened as P2, acknowledged, raised to P1, then resolved
    assert 'ragops_incident_time_to_acknowledge_seconds_count{severity="P2"}' in metrics
    assert 'ragops_incident_time_to_resolve_seconds_count{severity="P1"}' in metrics
    assert 'ragops_incidents_open{severity="P1"}' in metrics


def test_refusals(server: LiveServer) -> None:
    with server.client() as client:
        assert client.get("/v1/ops/incidents/999999").status_code == 404
        assert client.post("/v1/ops/incidents/999999/ack").status_code == 404
        bad = client.post("/v1/ops/incidents", json={"title": "x", "severity": "P9"})
        assert bad.status_code == 422
        assert client.get("/v1/ops/incidents", params={"status": "weird"}).status_code == 422
        incident = client.post("/v1/ops/incidents", json={"title": "x", "severity": "P4"}).json()
        url = f"/v1/ops/incidents/{incident['id']}"
        for body, field in (
            ({"participants": ["p" * 129]}, "participants.0"),
            ({"participants": [""]}, "participants.0"),
            ({"commander": None}, "commander"),  # was a silent no-op
            ({"customer_facing": None}, "customer_facing"),
        ):
            refused = client.patch(url, json=body)
            assert refused.status_code == 422, refused.text
            assert refused.json()["error"]["message"].startswith(field), refused.text
        assert client.get(url).json()["timeline"][-1]["kind"] == "opened"
        for path, body, field in (
            ("/v1/ops/incidents", {"title": "  ", "severity": "P4"}, "title"),
            ("/v1/ops/incidents", {"title": "\ufeff", "severity": "P4"}, "title"),  # a BOM
            ("/v1/ops/incidents", {"title": "\u0085", "severity": "P4"}, "title"),  # NEL
            (f"{url}/notes", {"message": " \n"}, "message"),
            (f"{url}/action-items", {"description": " ", "owner": "o"}, "description"),
            (f"{url}/action-items", {"description": "d", "owner": " "}, "owner"),
        ):
            blank = client.post(path, json=body)
            assert blank.status_code == 422, blank.text
            assert blank.json()["error"]["message"].startswith(field), blank.text
    chat_key = create_api_key(server.settings, scopes=("chat",))
    with server.client(headers={"Authorization": f"Bearer {chat_key}"}) as client:
        assert client.get("/v1/ops/incidents").status_code == 403
    with server.client(authenticated=False) as client:
        assert client.get("/v1/ops/incidents").status_code == 401


def test_one_click_acknowledge_link(server: LiveServer) -> None:
    from datetime import UTC, datetime, timedelta

    from ragops.incidents import links

    with server.client() as client:
        incident_id = client.post(
            "/v1/ops/incidents", json={"title": "Link test", "severity": "P3"}
        ).json()["id"]
    now = datetime.now(UTC)
    url = links.ack_url(server.settings, incident_id, now)
    assert url.startswith(f"http://ragops.test/ops/incidents/{incident_id}/ack?expires=")
    path = url.removeprefix("http://ragops.test")
    with server.client(authenticated=False) as client:
        tampered = client.get(path[:-4] + "0000")
        assert tampered.status_code == 403 and "not valid" in tampered.json()["error"]["message"]
        other = client.get(path.replace(f"/incidents/{incident_id}/", "/incidents/999999/"))
        assert other.status_code == 403
        expired = links.ack_url(server.settings, incident_id, now - timedelta(hours=25))
        gone = client.get(expired.removeprefix("http://ragops.test"))
        assert gone.status_code == 403 and "expired" in gone.json()["error"]["message"]
        done = client.get(path)
        assert done.status_code == 200 and "is <b>acknowledged</b>" in done.text
    with server.client() as client:
        seen = client.get(f"/v1/ops/incidents/{incident_id}").json()
    assert seen["status"] == "acknowledged" and seen["timeline"][-1]["actor"] == "ack-link"


def test_the_docs_describe_the_status_page_s_incidents(server: LiveServer) -> None:
    with server.client() as client:
        made = client.post(
            "/v1/ops/incidents",
            json={"title": "Slow answers", "severity": "P3", "customer_facing": True},
        ).json()
        with server.client(authenticated=False) as anonymous:
            body = anonymous.get("/v1/status").json()
        client.post(f"/v1/ops/incidents/{made['id']}/status", json={"status": "resolved"})
    api = (REPO_ROOT / "docs" / "api.md").read_text()
    entry = api[api.index("- `GET /v1/status`") :].split("\n\n", 1)[0]
    shown = next(i for i in body["incidents"] if i["id"] == made["id"])
    for key in [*body, *shown]:  # every field is named where the endpoint is described
        assert f'"{key}"' in entry, key
    page = (REPO_ROOT / "docs" / "incidents.md").read_text()
    not_built = page.split("## Not built yet", 1)[1] if "## Not built yet" in page else ""
    assert "`GET /v1/status`" not in not_built  # built: the status page lists them


def test_customer_facing_incidents_reach_the_public_status_page(server: LiveServer) -> None:
    with server.client() as client:
        internal = client.post("/v1/ops/incidents", json={"title": "Disk 80 %", "severity": "P4"})
        public = client.post(
            "/v1/ops/incidents",
            json={
                "title": "Answers fail for some users",
                "severity": "P2",
                "customer_facing": True,
            },
        )
        assert internal.status_code == public.status_code == 201
        url = f"/v1/ops/incidents/{public.json()['id']}"
        client.post(f"{url}/notes", json={"message": "Fix deploying", "status_update": True})
    with server.client(authenticated=False) as anonymous:
        listed = {i["id"]: i for i in anonymous.get("/v1/status").json()["incidents"]}
        assert internal.json()["id"] not in listed  # not customer-facing: never shown
        shown = listed[public.json()["id"]]
        assert (shown["title"], shown["severity"], shown["last_update"]) == (
            "Answers fail for some users",
            "P2",
            "Fix deploying",
        )
    with server.client() as client:
        client.post(f"{url}/status", json={"status": "resolved", "message": "fixed"})
    with server.client(authenticated=False) as anonymous:
        listed = {i["id"] for i in anonymous.get("/v1/status").json()["incidents"]}
        assert public.json()["id"] not in listed
