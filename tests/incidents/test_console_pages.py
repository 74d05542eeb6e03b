"""The incidents and on-call console pages in headless Chromium: the list, an incident's
detail with its timeline and the acknowledge button, and who is on call now and next."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, LiveServer, RunningServer, make_settings


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir: Path = tmp_path_factory.mktemp("console-incidents") / "var"
    settings = make_settings(
        data_dir,
        oncall_rotation_file=REPO_ROOT / "deploy" / "oncall" / "rotations.yaml",
        escalation_interval_seconds=0,
    )
    running = RunningServer(settings)
    try:
        yield running.start()
    finally:
        running.stop()


def wait_for(check: Any, what: str) -> None:
    deadline = time.monotonic() + 15
    while not check():
        assert time.monotonic() < deadline, f"the page never showed {what}"
        time.sleep(0.1)


def test_incident_pages_and_acknowledge_button(server: LiveServer, browser: Any) -> None:
    with server.client() as client:
        created = client.post(
            "/v1/ops/incidents",
            json={"title": "Answers fail", "severity": "P1", "runbook_url": "https://rb.test/x"},
        ).json()
        client.post(f"/v1/ops/incidents/{created['id']}/notes", json={"message": "Looking <b>"})
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(server.base_url + "/ops/incidents")
        wait_for(lambda: "admin API key" in page.inner_text("#message"), "the key prompt")
        page.fill("#apikey", server.api_key or "")
        page.dispatch_event("#apikey", "change")
        row = page.locator(f"#incidents tr[data-incident='{created['id']}'] td")
        wait_for(lambda: row.count() == 6, "the incident row")
        assert row.nth(1).inner_text() == "P1" and row.nth(2).inner_text() == "triggered"
        page.click(f"#incidents tr[data-incident='{created['id']}'] a")
        wait_for(lambda: page.locator("#timeline tr").count() == 2, "the timeline")
        assert page.inner_text("#detail-title") == f"Incident {created['id']} [P1]: Answers fail"
        assert (
            page.locator("#timeline tr[data-kind='note'] td").nth(3).inner_text() == "Looking <b>"
        )
        page.click("#ack")
        wait_for(lambda: page.inner_text("#detail-status") == "acknowledged", "the acknowledgement")
        assert page.locator("#timeline tr[data-kind='acknowledged']").count() == 1
        assert page.is_disabled("#ack")

        page.goto(server.base_url + "/ops/oncall")  # the key stays in the tab's session
        wait_for(lambda: page.locator("#oncall-now tr").count() == 3, "who is on call")
        vp = page.locator("#oncall-now tr[data-layer='vp'] td")
        assert vp.nth(1).inner_text() == "vp-engineering"
        assert page.locator("#oncall-shifts tr").count() >= 6
        assert page.inner_text("#message") == ""
    finally:
        page.close()
    assert errors == []
    with server.client() as client:
        seen = client.get(f"/v1/ops/incidents/{created['id']}").json()
    assert seen["status"] == "acknowledged"
