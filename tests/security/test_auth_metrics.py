"""Refused keys are counted in `ragops_auth_failures_total{reason}`, the metric an operator
alerts on for credential stuffing, and the audit trail names the client's address."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LiveServer, RunningServer, make_settings
from tests.security.support import audit_rows


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    running = RunningServer(make_settings(tmp_path / "var"))
    try:
        yield running.start()
    finally:
        running.stop()


def _failures(text: str, reason: str) -> float:
    match = re.search(
        rf'^ragops_auth_failures_total\{{reason="{reason}"\}} (\S+)$', text, re.MULTILINE
    )
    return float(match.group(1)) if match else 0.0


def test_refused_keys_are_counted_by_reason(server: LiveServer) -> None:
    with server.client() as client:
        before = client.get("/metrics").text
        with server.client(authenticated=False) as anonymous:
            assert anonymous.get("/v1/documents").status_code == 401
            bad = {"Authorization": "Bearer rgo_" + "x" * 43}
            assert anonymous.get("/v1/documents", headers=bad).status_code == 401
        after = client.get("/metrics").text
    assert _failures(after, "missing") == _failures(before, "missing") + 1
    assert _failures(after, "unknown") == _failures(before, "unknown") + 1
    events = audit_rows(server.settings, "auth.failure")
    assert len(events) == 2 and all(e.client_address == "127.0.0.1" for e in events)
