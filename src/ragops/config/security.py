"""HTTP and security settings: request limits and timeouts, idempotency, authentication,
CORS, security headers, rate limits, and the prompt-injection policy."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr


class HttpSecuritySettings(BaseModel):
    """What a client may send and who may call the API."""

    # --- HTTP ---
    max_request_bytes: int = Field(
        25 * 1024 * 1024, ge=1, description="Largest accepted request body (bytes)."
    )

    header_timeout_seconds: float = Field(
        10.0, gt=0, description="Seconds a client may take to send a request's head (408 after)."
    )
    body_timeout_seconds: float = Field(
        120.0, gt=0, description="Seconds a client may take to send a request's body."
    )
    max_connections_per_address: int = Field(
        50, ge=0, description="Open connections one client address may hold; 0 = no cap."
    )

    idempotency_key_hours: float = Field(
        24.0, gt=0, description="Hours a POST's Idempotency-Key and its first result are kept."
    )
    idempotency_wait_seconds: float = Field(
        10.0,
        ge=0,
        description="Seconds a retry waits for the first request with its Idempotency-Key to "
        "finish (409 after).",
    )

    # --- security ---
    auth_enabled: bool = Field(
        True, description="Require an API key on every API call; off only for local experiments."
    )
    cors_origins: list[str] = Field(
        [], description="Origins allowed by CORS (exact URLs); empty = no cross-origin access."
    )
    cors_allow_credentials: bool = Field(
        False, description="Let browsers send credentials cross-origin; never with origin '*'."
    )
    docs_enabled: bool | None = Field(
        None, description="Serve /docs and /openapi.json; unset = on except in production."
    )
    metrics_token: SecretStr | None = Field(
        None, description="Bearer token /metrics requires; unset = none (bind it to loopback)."
    )
    hsts_enabled: bool | None = Field(
        None, description="Send Strict-Transport-Security; unset = on in production only."
    )
    trusted_proxies: list[str] = Field(
        [], description="Proxy addresses/CIDRs whose X-Forwarded-For is believed; empty = none."
    )
    rate_limit_chat: str = Field(
        "60/minute", description="Chat requests allowed per API key (limits syntax)."
    )
    rate_limit_ingest: str = Field(
        "20/minute", description="Document uploads allowed per API key (limits syntax)."
    )
    rate_limit_per_ip: str = Field(
        "300/minute", description="Requests allowed per client address, any route (limits syntax)."
    )
    api_key_rotation_overlap_hours: int = Field(
        24, ge=0, description="Hours a rotated API key keeps working beside its successor."
    )
    bootstrap_api_key: bool = Field(
        True, description="Create and print a local API key on first start (development only)."
    )


class ContentSafetySettings(BaseModel):
    """What happens to questions that look like prompt injection."""

    # --- content safety ---
    injection_policy: Literal["flag", "block"] = Field(
        "flag",
        description="Questions that look like prompt injection: flag (answer, log, count) or "
        "block (422 above the threshold).",
    )
