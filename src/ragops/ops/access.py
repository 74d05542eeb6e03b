"""Who may read the metrics (`/metrics` and the console's `/ops/api/summary`).

With `RAGOPS_METRICS_TOKEN` set, a request must carry `Authorization: Bearer <token>` (401
otherwise; compared in constant time). Without a token, only loopback clients are served (403
to others), and a request that came through a proxy (it carries `Forwarded`,
`X-Forwarded-For` or `X-Real-IP`) is not taken for a loopback one, so a reverse proxy on the
same host does not expose the metrics.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

from fastapi import HTTPException, Request

from ragops.config import Settings
from ragops.observability import metrics

FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def is_loopback(host: str | None) -> bool:
    """Whether `host` is a loopback address (IPv4, IPv6 or IPv4-mapped IPv6)."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def token_matches(given: str, expected: str) -> bool:
    """Constant-time comparison (digests first, so lengths leak nothing either)."""
    return hmac.compare_digest(
        hashlib.sha256(given.encode()).digest(), hashlib.sha256(expected.encode()).digest()
    )


def require_metrics_access(request: Request, settings: Settings) -> None:
    """Raise 401/403 unless `request` may read the metrics."""
    token = settings.metrics_token
    if token is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token_matches(given.strip(), token.get_secret_value()):
            metrics.record_auth_failure("metrics_token")
            raise HTTPException(
                status_code=401,
                detail="a valid metrics token is required (Authorization: Bearer <token>)",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        return
    client = request.client.host if request.client else None
    proxied = any(name in request.headers for name in FORWARDING_HEADERS)
    if proxied or not is_loopback(client):
        raise HTTPException(
            status_code=403,
            detail="metrics are served to loopback clients only; set RAGOPS_METRICS_TOKEN "
            "to read them from elsewhere",
        )
