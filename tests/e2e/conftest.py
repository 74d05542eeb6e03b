"""Fixtures of the end-to-end tests: small documents and helpers over real HTTP."""

from __future__ import annotations

import json
from typing import Any

import httpx

POOL_DOC = b"""# Connection pool

The pool keeps five connections open and grows to twenty.

## Timeouts

A request waits thirty seconds for a free connection before it fails.
"""

ROLLBACK_DOC = b"""# Rollback

To roll back a bad release, revert the commit and push: the platform redeploys the previous
version in under two minutes.

## Image tags

Changing DOCKER_IMAGE_TAG to the previous tag restarts the service on the old image.
"""

GARDEN_DOC = b"""# Tomatoes

Tomato plants need six hours of sun a day and deep watering twice a week.
"""

DOC_RAGOPS_KEY = "rgo_Vt7Qm2Lx9Pz4Kc8Nw3Hb6Rj1Fd5Sy0Ga"  # pragma: allowlist secret
DOC_PROVIDER_KEY = "sk-proj-Wq4Ez8Rt2Yu6Io0Pa3Sd7Fg1Hj5"  # pragma: allowlist secret
CREDENTIALS_DOC = f"""# Staging credentials

The staging deploy token is {DOC_RAGOPS_KEY} and the mail provider key is {DOC_PROVIDER_KEY};
both are rotated every ninety days by the platform team.

## Rotation

Rotation happens on the first Monday of the quarter, after the change freeze ends.
""".encode()
"""A document holding two key-shaped strings, which no answer or citation may show."""


def upload(
    client: httpx.Client,
    files: list[tuple[str, bytes, str]],
    collection: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST /v1/documents with multipart files."""
    data = {"collection": collection} if collection else None
    return client.post(
        "/v1/documents",
        files=[("files", (name, body, ctype)) for name, body, ctype in files],
        data=data,
        headers=headers,
    )


def read_sse(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """Parse a text/event-stream body into (event, data) pairs."""
    events = []
    for block in response.text.split("\n\n"):
        if not block.strip():
            continue
        event, data = "message", ""
        for line in block.splitlines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data += line[6:]
        events.append((event, json.loads(data) if data else {}))
    return events
