"""Signed one-click acknowledge links and the signing key.

A link carries the incident id, an expiry and an HMAC-SHA256 over both, so it works without
an API key but only for that incident and only until it expires. The key is
`RAGOPS_INCIDENT_LINK_SECRET`; unset, a random key is kept in `<data_dir>/incident-link.key`
(several instances must share one secret to accept each other's links).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlencode

from ragops.config import Settings

KEY_FILE = "incident-link.key"


def signing_key(settings: Settings) -> bytes:
    """The key signing acknowledge links."""
    if settings.incident_link_secret is not None:
        return settings.incident_link_secret.get_secret_value().encode()
    path = settings.data_dir / KEY_FILE
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip().encode()


def _signature(key: bytes, incident_id: int, expires: int) -> str:
    message = f"ack:{incident_id}:{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def incident_url(settings: Settings, incident_id: int) -> str:
    """Where a responder sees the incident."""
    return f"{settings.public_base_url.rstrip('/')}/ops/incidents/{incident_id}"


def ack_url(settings: Settings, incident_id: int, now: datetime) -> str:
    """A signed link acknowledging `incident_id`, valid for `ack_link_hours`."""
    expires = int((now + timedelta(hours=settings.ack_link_hours)).timestamp())
    query = urlencode(
        {"expires": expires, "sig": _signature(signing_key(settings), incident_id, expires)}
    )
    return f"{settings.public_base_url.rstrip('/')}/ops/incidents/{incident_id}/ack?{query}"


def verify(
    settings: Settings, incident_id: int, expires: int, signature: str, now: datetime
) -> str | None:
    """None when the link is valid, else why it is not."""
    expected = _signature(signing_key(settings), incident_id, expires)
    if not hmac.compare_digest(expected, signature):
        return "the link is not valid"
    if now.timestamp() > expires:
        return "the link has expired"
    return None
