"""PagerDuty Events API v2: trigger, acknowledge and resolve with one stable `dedup_key` per
incident, so PagerDuty keeps one alert per incident and runs its own escalation.

The URL is configurable (`RAGOPS_PAGERDUTY_EVENTS_URL`) so tests point it at a local
receiver. Reminders are not sent to PagerDuty (they go to the chat channels).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from ragops.providers.notifier.base import Page
from ragops.providers.notifier.http import post_json

PD_SEVERITY = {"P1": "critical", "P2": "error", "P3": "warning", "P4": "info"}


def event_body(page: Page, routing_key: str) -> dict[str, Any]:
    """The Events API v2 body of `page`."""
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": page.action,
        "dedup_key": page.dedup_key,
    }
    if page.action != "trigger":
        return body
    links = [{"href": page.incident_url, "text": f"Incident {page.incident_id}"}]
    if page.ack_url:
        links.append({"href": page.ack_url, "text": "Acknowledge"})
    if page.runbook_url:
        links.append({"href": page.runbook_url, "text": "Runbook"})
    details: dict[str, Any] = {
        "incident_id": page.incident_id,
        "severity": page.severity,
        "status": page.status,
        "runbook_url": page.runbook_url,
        "incident_url": page.incident_url,
        "ack_url": page.ack_url,
    }
    if page.summary:
        details["description"] = page.summary
    body.update(
        payload={
            "summary": page.headline[:1024],
            "source": "ragops",
            "severity": PD_SEVERITY.get(page.severity, "error"),
            "component": "ragops",
            "class": "incident",
            "custom_details": details,
        },
        client="ragops",
        client_url=page.incident_url,
        links=links,
    )
    return body


class PagerDutyNotifier:
    """Sends pages to a PagerDuty service through its Events API v2 integration."""

    channel = "pagerduty"
    per_recipient = False
    needs_recipient = False

    def __init__(self, *, routing_key: str, url: str, timeout: float) -> None:
        self._routing_key = routing_key
        self._url = url
        self._client = httpx.AsyncClient(timeout=timeout)

    async def send(self, page: Page) -> None:
        """Trigger, acknowledge or resolve the incident's PagerDuty alert."""
        if page.action == "reminder":
            return
        body = json.dumps(event_body(page, self._routing_key)).encode()
        await post_json(self._client, self._url, body, channel=self.channel)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
