"""Fixtures of the incident tests: one served app per database backend for a module, and
Alertmanager payloads (version 4)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BACKENDS, LiveServer, RunningServer, backend_settings

WEBHOOK_TOKEN = "test-webhook-token-0123456789"


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The app on SQLite, then on a fresh PostgreSQL database, with a webhook token and
    the escalation engine's timer off (tests drive it)."""
    data_dir: Path = tmp_path_factory.mktemp("incidents") / "var"
    with backend_settings(
        request.param,
        data_dir,
        alert_webhook_token=WEBHOOK_TOKEN,
        escalation_interval_seconds=0,
        public_base_url="http://ragops.test",
    ) as settings:
        running = RunningServer(settings)
        try:
            yield running.start()
        finally:
            running.stop()


def alert(
    name: str = "RagopsAvailabilityFastBurn",
    *,
    severity: str = "P1",
    status: str = "firing",
    fingerprint: str = "f1",
    starts: str = "2026-12-03T10:00:00Z",
    ends: str = "0001-01-01T00:00:00Z",
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "severity": severity, "service": "ragops"},
        "annotations": {
            "summary": f"{name} summary",
            "description": f"{name} description",
            "runbook_url": f"https://runbooks.test/{name}",
        },
        "startsAt": starts,
        "endsAt": ends,
        "generatorURL": "http://prometheus.test/graph",
        "fingerprint": fingerprint,
    }


def payload(group: str, *alerts: dict[str, Any]) -> dict[str, Any]:
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return {
        "version": "4",
        "groupKey": group,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "ragops-page",
        "groupLabels": {"alertname": alerts[0]["labels"]["alertname"]},
        "commonLabels": {"service": "ragops"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.test",
        "alerts": list(alerts),
    }
