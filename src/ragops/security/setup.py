"""Install the HTTP security layer on the application: CORS, security headers, rate limits,
trusted proxies, and the switch of the API documentation.

Order of the layers, outermost first:

1. `SecurityHeadersMiddleware` wraps the whole application stack, outside every other
   middleware and the server-error handler, so that every response (a 413 of the body size
   limit, a 500) carries the headers;
2. `AllowlistCORSMiddleware` (only when origins are configured; `install_cors`, which
   `create_app` calls just inside the request id), outside the body size limit, load shedding,
   draining and the rate limits, so that an allowed browser origin can read their refusals;
   the preflights it answers itself it hands to the request metrics' recorder (route
   `preflight`), since they never reach the metrics middleware inside it;
3. `ClientRateLimitMiddleware`: the per-address limit of every `/v1` request;
4. the per-key limits, by the dependency `apply_rate_limits` adds to the limited routes.

Unsafe settings (CORS `*` with credentials, a malformed origin, proxy or limit) stop the
start with an error naming the variable.
"""

from __future__ import annotations

from typing import TypedDict

from fastapi import FastAPI
from starlette.types import ASGIApp

from ragops.config import Settings
from ragops.observability.http_metrics import preflight_recorder
from ragops.observability.setup import observability_state
from ragops.security.cors import AllowlistCORSMiddleware, CorsConfigError, validate_origins
from ragops.security.headers import SecurityHeadersMiddleware
from ragops.security.ip_limit import ClientRateLimitMiddleware
from ragops.security.limiter import RateLimitConfigError, RateLimiter, parse_limits
from ragops.security.proxies import ProxyConfigError, TrustedProxies
from ragops.security.rate_limit import apply_rate_limits


class AppOptions(TypedDict):
    """The security-related arguments of `FastAPI(...)`: where the documentation is served
    (None: not served, 404)."""

    docs_url: str | None
    redoc_url: str | None
    openapi_url: str | None


def docs_enabled(settings: Settings) -> bool:
    """`RAGOPS_DOCS_ENABLED`, defaulting to on everywhere but production."""
    if settings.docs_enabled is not None:
        return settings.docs_enabled
    return settings.environment != "production"


def app_options(settings: Settings) -> AppOptions:
    """Keyword arguments for `FastAPI(...)`: `FastAPI(title=..., **app_options(settings))`."""
    enabled = docs_enabled(settings)
    return AppOptions(
        docs_url="/docs" if enabled else None,
        redoc_url="/redoc" if enabled else None,
        openapi_url="/openapi.json" if enabled else None,
    )


SECURITY_CONFIG_ERRORS = (CorsConfigError, ProxyConfigError, RateLimitConfigError)


def check_security_settings(settings: Settings) -> None:
    """Raise what building the application would (one of SECURITY_CONFIG_ERRORS, naming the
    variable) for unsafe or malformed CORS, proxy or rate-limit settings, before anything
    starts (`ragops serve` prints it as one line)."""
    validate_origins(settings.cors_origins, allow_credentials=settings.cors_allow_credentials)
    TrustedProxies.from_settings(settings.trusted_proxies)
    for name in ("chat", "ingest", "per_ip"):
        try:
            parse_limits(getattr(settings, f"rate_limit_{name}"))
        except RateLimitConfigError as exc:
            raise RateLimitConfigError(f"RAGOPS_RATE_LIMIT_{name.upper()}: {exc}") from None


def install_cors(app: FastAPI, settings: Settings) -> None:
    """Add CORS to `app` when origins are configured (refuses unsafe ones: CorsConfigError).
    Called after the middleware whose refusals an allowed origin must be able to read, and
    after `install_observability`, whose request log then counts the preflights too."""
    origins = validate_origins(
        settings.cors_origins, allow_credentials=settings.cors_allow_credentials
    )
    if origins:
        observed = observability_state(app)
        app.add_middleware(
            AllowlistCORSMiddleware,
            origins=origins,
            allow_credentials=settings.cors_allow_credentials,
            record_preflight=preflight_recorder(observed.requests if observed else None),
        )


def install_security(app: FastAPI, settings: Settings) -> None:
    """Add the security middleware but CORS (`install_cors`) to `app` (see the module
    docstring for the order)."""
    proxies = TrustedProxies.from_settings(settings.trusted_proxies)
    limiter = RateLimiter.from_settings(settings)
    app.state.trusted_proxies = proxies
    apply_rate_limits(app, limiter)
    app.add_middleware(ClientRateLimitMiddleware, limiter=limiter, proxies=proxies)
    build_stack = app.build_middleware_stack

    def build_with_headers() -> ASGIApp:
        return SecurityHeadersMiddleware(
            build_stack(),
            proxies=proxies,
            hsts=settings.hsts_enabled,
            environment=settings.environment,
        )

    app.build_middleware_stack = build_with_headers  # type: ignore[method-assign]
