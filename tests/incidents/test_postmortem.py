"""`ragops incident postmortem` and `ragops oncall handoff` as real processes, on an incident
built through the services with fixed times; Prometheus figures from a local stand-in."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from ragops.db import Database, migrate
from ragops.incidents import actions, service
from ragops.incidents.alerts import AlertmanagerPayload, ingest
from tests.conftest import REPO_ROOT, make_settings, run_cli, run_sync
from tests.incidents.conftest import alert, payload

T0 = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)


def build_incident(data_dir: Path) -> int:
    settings = make_settings(data_dir)

    async def work() -> int:
        await migrate.upgrade(settings)
        db = Database(settings)
        try:
            body = payload("pm", alert("RagopsDatabaseDown", starts=T0.isoformat()))
            opened = await ingest(db=db, payload=AlertmanagerPayload.model_validate(body), now=T0)
            assert opened.incident_id is not None
            iid = opened.incident_id
            at = T0 + timedelta(minutes=3)
            await service.acknowledge(db=db, incident_id=iid, actor="engineer-d", now=at)
            await service.add_note(
                db=db,
                incident_id=iid,
                message="Failing over | to replica",
                actor="engineer-d",
                now=T0 + timedelta(minutes=10),
            )
            await service.update(
                db=db,
                incident_id=iid,
                actor="engineer-d",
                changes={"customer_facing": True, "impact": "All answers failed."},
                now=T0 + timedelta(minutes=11),
            )
            await service.set_status(
                db=db,
                incident_id=iid,
                status="resolved",
                actor="engineer-d",
                now=T0 + timedelta(minutes=42),
            )
            await actions.add_action_item(
                db=db,
                incident_id=iid,
                description="Automate failover",
                owner="engineer-d",
                due=date(2026, 12, 20),
                actor="engineer-d",
                now=T0 + timedelta(minutes=50),
            )
            return iid
        finally:
            await db.dispose()

    return run_sync(work())


@pytest.fixture
def prometheus() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    asked: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            query = parse_qs(urlparse(self.path).query)
            asked.append(query)
            value = "0.25" if "status" in query["query"][0] else "4.5"
            body = json.dumps(
                {
                    "status": "success",
                    "data": {
                        "resultType": "vector",
                        "result": [{"metric": {}, "value": [0, value]}],
                    },
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


def test_postmortem_has_the_full_timeline(
    tmp_path: Path, prometheus: tuple[str, list[dict[str, Any]]]
) -> None:
    data_dir = tmp_path / "var"
    incident_id = str(build_incident(data_dir))
    url, asked = prometheus
    out = tmp_path / "postmortem.md"
    run_cli(data_dir, "incident", "postmortem", incident_id, "-o", str(out), "--prometheus", url)
    text = out.read_text()
    assert text.startswith(
        f"# Postmortem: incident {incident_id}: RagopsDatabaseDown: RagopsDatabaseDown summary\n"
    )
    assert "_Blameless:" in text
    for line in (
        "| Severity | P1 |",
        "| Commander | engineer-d |",
        "- Customer-facing: yes",
        "- Duration: 42 min",
        "- Time to acknowledge: 3 min",
        "- Error rate over the window: 25.00%; p95 latency: 4.50 s\n  (source: Prometheus at "
        + url
        + ")",
        "All answers failed.",
        "| 2026-12-03 11:00:00 UTC | alertmanager | alert_fired | RagopsDatabaseDown fired (P1): "
        "RagopsDatabaseDown summary |",
        "| 2026-12-03 11:03:00 UTC | engineer-d | acknowledged | acknowledged by engineer-d |",
        "| 2026-12-03 11:10:00 UTC | engineer-d | note | Failing over \\| to replica |",
        "| 2026-12-03 11:42:00 UTC | engineer-d | status_changed | acknowledged -> resolved |",
        "## Root cause",
        "## Contributing factors",
        "| 1 | Automate failover | engineer-d | 2026-12-20 | no |",
    ):
        assert line in text, line
    assert [q["time"][0] for q in asked] == [str((T0 + timedelta(minutes=42)).timestamp())] * 2
    assert "[2520s]" in asked[0]["query"][0]

    bare = run_cli(data_dir, "incident", "postmortem", incident_id).stdout
    assert "not measured (no Prometheus URL given, and the service's request log holds no" in bare
    unreachable = run_cli(
        data_dir,
        "incident",
        "postmortem",
        incident_id,
        "--prometheus",
        "http://127.0.0.1:9",
        check=False,
    )
    assert unreachable.returncode == 1 and "cannot ask Prometheus" in unreachable.stderr


def test_handoff_note(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    incident_id = build_incident(data_dir)
    rotations = tmp_path / "rotations.yaml"
    shutil.copy(REPO_ROOT / "deploy" / "oncall" / "rotations.yaml", rotations)
    note = run_cli(
        data_dir, "oncall", "handoff", "--file", str(rotations), "--at", "2026-12-07T08:30"
    ).stdout
    assert "- Outgoing primary: engineer-d (shift since 2026-11-30 08:00 UTC)" in note
    assert "- Incoming primary: engineer-a (from 2026-12-07 08:00 UTC)" in note
    assert "## Open incidents (0)" in note
    assert f"RagopsDatabaseDown (P1), firing, incident #{incident_id}" in note
    assert "Automate failover: engineer-d, due 2026-12-20" in note
