"""A shared HTTP helper of the webhook-style notifiers: POST JSON, any 2xx is delivered."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from ragops.providers.notifier.base import NotifyError


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    *,
    channel: str,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """POST `body` (JSON bytes); NotifyError on a transport error or a non-2xx answer."""
    try:
        response = await client.post(
            url, content=body, headers={"Content-Type": "application/json", **(headers or {})}
        )
    except httpx.HTTPError as exc:
        raise NotifyError(f"{channel}: cannot deliver: {type(exc).__name__}") from None
    if not response.is_success:
        raise NotifyError(f"{channel}: answered {response.status_code}")
    return response
