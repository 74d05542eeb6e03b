"""A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat): one message per page,
naming the person paged, with links to the incident, the runbook and the acknowledge link."""

from __future__ import annotations

import json
from typing import Any

import httpx

from ragops.providers.notifier.base import Page
from ragops.providers.notifier.http import post_json


def message(page: Page) -> dict[str, Any]:
    """The webhook body of `page` (`text` in Slack's mrkdwn)."""
    lines = [f"*{page.headline}*"]
    if page.recipient is not None:
        who = page.recipient.slack or page.recipient.name
        lines.append(f"On call ({page.recipient.layer}): {who}")
    if page.note:
        lines.append(page.note)
    if page.summary:
        lines.append(page.summary)
    links = [f"<{page.incident_url}|Incident {page.incident_id}>"]
    if page.runbook_url:
        links.append(f"<{page.runbook_url}|Runbook>")
    if page.ack_url and page.action in ("trigger", "reminder"):
        links.append(f"<{page.ack_url}|Acknowledge>")
    lines.append(" · ".join(links))
    return {"text": "\n".join(lines)}


class SlackNotifier:
    """Posts pages to a Slack-compatible incoming webhook."""

    channel = "slack"
    per_recipient = True
    needs_recipient = False

    def __init__(self, *, url: str, timeout: float) -> None:
        self._url = url
        self._client = httpx.AsyncClient(timeout=timeout)

    async def send(self, page: Page) -> None:
        """Post the page's message."""
        body = json.dumps(message(page)).encode()
        await post_json(self._client, self._url, body, channel=self.channel)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
