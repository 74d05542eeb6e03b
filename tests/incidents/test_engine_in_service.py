"""The escalation engine runs inside the served application on its timer: a declared incident
is paged without anything else calling the engine, and an acknowledgement is forwarded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import REPO_ROOT, make_settings
from tests.incidents.receivers import http_receiver
from tests.ops.processes import wait_until


def test_the_service_pages_on_its_own(tmp_path: Path, serve_app: Any) -> None:
    with http_receiver() as receiver:
        settings = make_settings(
            tmp_path / "var",
            escalation_interval_seconds=60,  # the new incident wakes it long before that
            oncall_rotation_file=REPO_ROOT / "deploy" / "oncall" / "rotations.yaml",
            page_slack_webhook_url=receiver.url + "/chat",
        )
        server = serve_app(settings)
        with server.client() as client:
            created = client.post("/v1/ops/incidents", json={"title": "Slow", "severity": "P2"})
            incident_id = created.json()["id"]
            texts = lambda: [d.body["text"] for d in receiver.deliveries("/chat")]  # noqa: E731
            wait_until(lambda: len(texts()) == 1, timeout=10, what="the page")
            assert texts()[0].startswith(f"*[P2] Incident {incident_id} triggered: Slow*")
            client.post(f"/v1/ops/incidents/{incident_id}/ack")
            wait_until(lambda: len(texts()) == 2, timeout=10, what="the acknowledge notice")
            assert texts()[1].startswith(f"*[P2] Incident {incident_id} acknowledged")
            timeline = client.get(f"/v1/ops/incidents/{incident_id}").json()["timeline"]
        assert [e["kind"] for e in timeline] == ["opened", "paged", "acknowledged", "notified"]
