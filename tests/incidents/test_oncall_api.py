"""The on-call routes over HTTP: now and next weeks (admin), the token-protected calendar."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from icalendar import Calendar

from tests.conftest import REPO_ROOT, create_api_key, make_settings


def test_oncall_now_and_calendar_feed(tmp_path: Path, serve_app: Any) -> None:
    settings = make_settings(
        tmp_path / "var",
        oncall_rotation_file=REPO_ROOT / "deploy" / "oncall" / "rotations.yaml",
        oncall_calendar_token="cal-token-0123456789",
    )
    server = serve_app(settings)
    with server.client() as client:
        body = client.get("/v1/ops/oncall", params={"weeks": 4}).json()
        assert [row["layer"] for row in body["now"]] == ["primary", "engineering_lead", "vp"]
        assert body["now"][2] == {"layer": "vp", "member": "vp-engineering", "source": "rotation"}
        primary = [s for s in body["shifts"] if s["layer"] == "primary"]
        assert 4 <= len(primary) <= 5 and body["timezone"] == "Europe/Berlin"
        assert client.get("/v1/ops/oncall", params={"weeks": 99}).status_code == 422
    chat_key = create_api_key(settings, scopes=("chat",))
    with server.client(headers={"Authorization": f"Bearer {chat_key}"}) as client:
        assert client.get("/v1/ops/oncall").status_code == 403
    with server.client(authenticated=False) as client:
        assert client.get("/ops/oncall/calendar.ics").status_code == 403
        assert client.get("/ops/oncall/calendar.ics", params={"token": "nope"}).status_code == 403
        feed = client.get("/ops/oncall/calendar.ics", params={"token": "cal-token-0123456789"})
        assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
        summaries = {str(e["SUMMARY"]) for e in Calendar.from_ical(feed.content).walk("VEVENT")}
        assert "On call (VP): vp-engineering" in summaries


def test_without_rotation_file_or_token(tmp_path: Path, serve_app: Any) -> None:
    server = serve_app(make_settings(tmp_path / "var"))
    with server.client() as client:
        missing = client.get("/v1/ops/oncall")
        assert missing.status_code == 404 and "RAGOPS_ONCALL_ROTATION_FILE" in missing.text
        assert client.get("/ops/oncall/calendar.ics", params={"token": "x"}).status_code == 404


def test_a_broken_edit_keeps_the_last_good_rotations(tmp_path: Path, serve_app: Any) -> None:
    """As the escalation engine does (docs/oncall.md): a rotation file broken while the
    service runs is logged, and the routes answer from the last good one, not with a client
    error (422) that named the server's file path to a calendar app."""
    path = tmp_path / "rotations.yaml"
    path.write_text((REPO_ROOT / "deploy" / "oncall" / "rotations.yaml").read_text())
    settings = make_settings(
        tmp_path / "var", oncall_rotation_file=path, oncall_calendar_token="cal-token-0123456789"
    )
    server = serve_app(settings)
    path.write_text(path.read_text() + "bogus_key: 1\n")
    with server.client() as client:
        body = client.get("/v1/ops/oncall")
        assert body.status_code == 200, body.text
        assert body.json()["now"][2]["member"] == "vp-engineering"
    with server.client(authenticated=False) as client:
        feed = client.get("/ops/oncall/calendar.ics", params={"token": "cal-token-0123456789"})
        assert feed.status_code == 200, feed.text
        assert str(path) not in feed.text
