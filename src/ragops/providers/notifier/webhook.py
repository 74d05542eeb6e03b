"""A generic webhook: the page as JSON, signed with HMAC-SHA256 so the receiver can check it
came from ragops and was not replayed.

Headers: `X-Ragops-Timestamp: <unix seconds>` and
`X-Ragops-Signature: sha256=<hex of HMAC(secret, "<timestamp>." + body)>`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx

from ragops.providers.notifier.base import Page
from ragops.providers.notifier.http import post_json


def page_document(page: Page) -> dict[str, Any]:
    """The JSON document of `page`."""
    recipient = None
    if page.recipient is not None:
        recipient = {
            "name": page.recipient.name,
            "layer": page.recipient.layer,
            "email": page.recipient.email,
        }
    return {
        "type": f"incident.{page.action}",
        "dedup_key": page.dedup_key,
        "incident": {
            "id": page.incident_id,
            "title": page.title,
            "severity": page.severity,
            "status": page.status,
            "summary": page.summary,
            "url": page.incident_url,
            "runbook_url": page.runbook_url,
        },
        "ack_url": page.ack_url,
        "recipient": recipient,
        "note": page.note,
    }


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header value of `body` sent at `timestamp`."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class SignedWebhookNotifier:
    """Posts signed page documents to a URL."""

    channel = "webhook"
    per_recipient = True
    needs_recipient = False

    def __init__(self, *, url: str, secret: bytes, timeout: float) -> None:
        self._url = url
        self._secret = secret
        self._client = httpx.AsyncClient(timeout=timeout)

    async def send(self, page: Page) -> None:
        """Post the signed document."""
        body = json.dumps(page_document(page), sort_keys=True).encode()
        timestamp = str(int(time.time()))
        headers = {
            "X-Ragops-Timestamp": timestamp,
            "X-Ragops-Signature": signature(self._secret, timestamp, body),
        }
        await post_json(self._client, self._url, body, channel=self.channel, headers=headers)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
