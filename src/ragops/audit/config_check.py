"""`ragops audit config`: the running settings checked against the security expectations.

Each check is a small function of `Settings` returning findings; `CHECKS` lists them in
report order. Several expectations hold only in production (`RAGOPS_ENVIRONMENT=production`):
API docs off, HSTS on, no default database credentials, no DEBUG logging, no embedded stores,
auto-migration or demo corpus, one shared key for acknowledge links. Secret values never
appear in a finding; only the name of the setting that holds them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from urllib.parse import urlsplit

from pydantic import SecretStr

from ragops.audit.findings import CheckResult, Finding, Severity
from ragops.config import Settings
from ragops.config.production import production_problems

CHECK = "config"
ENV_PREFIX = "RAGOPS_"

# Values that appear in tutorials, images and default installs; a secret equal to one of
# these (case-insensitive) is as good as no secret.
WEAK_SECRETS = frozenset(
    {
        "", "admin", "changeme", "change-me", "changeit", "default", "letmein", "password",
        "passw0rd", "postgres", "qdrant", "ragops", "redis", "root", "secret", "test",
        "token", "12345678", "123456", "sk-test", "none", "null", "example", "pass",
    }
)  # fmt: skip
MIN_TOKEN_LENGTH = 24
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def _env(name: str) -> str:
    return ENV_PREFIX + name.upper()


def _production(settings: Settings) -> bool:
    return settings.environment == "production"


def _finding(severity: Severity, title: str, detail: str, field: str) -> Finding:
    return Finding.make(CHECK, severity, title, detail, _env(field))


def is_loopback(host: str) -> bool:
    """True for loopback names and addresses (`localhost`, 127.0.0.0/8, ::1)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_weak_secret(value: str) -> bool:
    """True for an empty, well-known or placeholder secret."""
    return value.strip().lower() in WEAK_SECRETS


def check_auth(settings: Settings) -> list[Finding]:
    """API keys must be required."""
    if settings.auth_enabled:
        return []
    severity = Severity.CRITICAL if _production(settings) else Severity.HIGH
    return [
        _finding(
            severity,
            "Authentication is off",
            "Every API call is accepted without an API key (auth_enabled=false).",
            "auth_enabled",
        )
    ]


def check_cors(settings: Settings) -> list[Finding]:
    """CORS never allows every origin, and never with credentials."""
    wildcard = [o for o in settings.cors_origins if o.strip() in {"*", "null"}]
    if not wildcard:
        return []
    if settings.cors_allow_credentials:
        return [
            _finding(
                Severity.CRITICAL,
                "CORS allows any origin with credentials",
                f"cors_origins contains {wildcard[0]!r} and cors_allow_credentials is on: any "
                "web page may call the API with the user's credentials.",
                "cors_origins",
            )
        ]
    return [
        _finding(
            Severity.HIGH,
            "CORS allows any origin",
            f"cors_origins contains {wildcard[0]!r}; list the exact origins of the web clients.",
            "cors_origins",
        )
    ]


def check_debug(settings: Settings) -> list[Finding]:
    """SQL echo off, and no DEBUG logs in production."""
    findings: list[Finding] = []
    if settings.db_echo:
        findings.append(
            _finding(
                Severity.HIGH if _production(settings) else Severity.MEDIUM,
                "SQL echo is on",
                "db_echo logs every SQL statement with its parameters, user data included.",
                "db_echo",
            )
        )
    if _production(settings) and settings.log_level.strip().upper() == "DEBUG":
        findings.append(
            _finding(
                Severity.MEDIUM,
                "DEBUG logging in production",
                "DEBUG logs carry request bodies and internals; use INFO or above.",
                "log_level",
            )
        )
    return findings


def check_docs(settings: Settings) -> list[Finding]:
    """Interactive API docs off in production."""
    if _production(settings) and settings.docs_enabled:
        return [
            _finding(
                Severity.MEDIUM,
                "API docs served in production",
                "docs_enabled=true publishes /docs and /openapi.json: the whole attack surface.",
                "docs_enabled",
            )
        ]
    return []


def check_tls(settings: Settings) -> list[Finding]:
    """HSTS on in production; no remote service reached over plain HTTP in production."""
    findings: list[Finding] = []
    if _production(settings) and settings.hsts_enabled is False:
        findings.append(
            _finding(
                Severity.HIGH,
                "HSTS off in production",
                "hsts_enabled=false: browsers may be downgraded to plain HTTP.",
                "hsts_enabled",
            )
        )
    if not _production(settings):
        return findings
    for field in ("llm_base_url", "embedding_base_url", "qdrant_url"):
        url = getattr(settings, field)
        if url and urlsplit(url).scheme == "http" and not is_loopback(urlsplit(url).hostname or ""):
            findings.append(
                _finding(
                    Severity.HIGH,
                    "Remote service over plain HTTP",
                    f"{field} uses http:// to a remote host; its API key and the documents "
                    "travel in clear text. Use https://.",
                    field,
                )
            )
    return findings


SECRET_FIELDS = (
    "llm_api_key",
    "embedding_api_key",
    "qdrant_api_key",
    "metrics_token",
    "incident_link_secret",
    "alert_webhook_token",
    "oncall_calendar_token",
    "pagerduty_routing_key",
    "pagerduty_webhook_secret",
)
"""The settings whose weak value `check_secrets` flags."""


def check_secrets(settings: Settings) -> list[Finding]:
    """API keys and tokens, when set, are not empty, default or placeholder values."""
    findings: list[Finding] = []
    for field in SECRET_FIELDS:
        value: SecretStr | None = getattr(settings, field)
        if value is not None and is_weak_secret(value.get_secret_value()):
            findings.append(
                _finding(
                    Severity.CRITICAL if _production(settings) else Severity.HIGH,
                    "Default or weak secret",
                    f"{field} is empty or a well-known value; set a generated secret.",
                    field,
                )
            )
    return findings


def check_metrics(settings: Settings) -> list[Finding]:
    """/metrics needs a strong token unless the server listens on loopback only."""
    token = settings.metrics_token
    if token is None:
        if is_loopback(settings.host):
            return []
        return [
            _finding(
                Severity.HIGH,
                "Metrics open to the network",
                f"The server binds {settings.host} and metrics_token is unset: anyone who "
                "reaches the port reads /metrics. Set a token or bind to loopback.",
                "metrics_token",
            )
        ]
    if len(token.get_secret_value()) < MIN_TOKEN_LENGTH and not is_weak_secret(
        token.get_secret_value()
    ):
        return [
            _finding(
                Severity.MEDIUM,
                "Short metrics token",
                f"metrics_token is shorter than {MIN_TOKEN_LENGTH} characters.",
                "metrics_token",
            )
        ]
    return []


def check_incident_links(settings: Settings) -> list[Finding]:
    """Production signs acknowledge links with one shared key, not a per-instance one."""
    if not _production(settings) or settings.incident_link_secret is not None:
        return []
    return [
        _finding(
            Severity.MEDIUM,
            "Acknowledge links signed per instance",
            "incident_link_secret is unset: each instance signs one-click acknowledge links "
            "with a key of its own data directory, so a link opened on another instance "
            "answers 403. Set one generated secret shared by every instance.",
            "incident_link_secret",
        )
    ]


def _url_password(url: str) -> tuple[str | None, str | None]:
    try:
        parts = urlsplit(url)
        return parts.username, parts.password
    except ValueError:
        return None, None


def check_database(settings: Settings) -> list[Finding]:
    """Database and Redis URLs carry no default credentials (critical in production)."""
    findings: list[Finding] = []
    urls = {"database_url": settings.database_url}
    urls["redis_url"] = settings.redis_url.get_secret_value() if settings.redis_url else None
    for field, url in urls.items():
        if not url:
            continue
        user, password = _url_password(url)
        if user is None and password is None:
            continue
        if password is None or is_weak_secret(password) or password == user:
            findings.append(
                _finding(
                    Severity.CRITICAL if _production(settings) else Severity.LOW,
                    "Default database credentials",
                    f"{field} has no password, a well-known one, or the user name as password.",
                    field,
                )
            )
    return findings


def check_rate_limits(settings: Settings) -> list[Finding]:
    """Each rate limit parses in `limits` syntax ("60/minute"); proxies are not `*`."""
    from limits import parse_many

    findings: list[Finding] = []
    for field in ("rate_limit_chat", "rate_limit_ingest", "rate_limit_per_ip"):
        value = getattr(settings, field)
        try:
            parse_many(value)
        except ValueError:
            findings.append(
                _finding(
                    Severity.HIGH,
                    "Rate limit not understood",
                    f"{field}={value!r} is not a limit like '60/minute'; limiting would fail.",
                    field,
                )
            )
    if any(p.strip() in {"*", "0.0.0.0/0", "::/0"} for p in settings.trusted_proxies):
        findings.append(
            _finding(
                Severity.HIGH,
                "Every client trusted as a proxy",
                "trusted_proxies trusts any address: a client can forge X-Forwarded-For and "
                "dodge per-address rate limits. List the proxies' addresses.",
                "trusted_proxies",
            )
        )
    return findings


def check_production_stores(settings: Settings) -> list[Finding]:
    """Production on embedded stores, auto-migration or the demo corpus."""
    allowed = settings.allow_embedded_in_production
    findings: list[Finding] = []
    for problem in production_problems(settings):
        stores = problem.field in {"database_url", "qdrant_url", "pgvector_url", "redis_url"}
        detail = problem.detail
        if allowed:
            detail += " (allowed by RAGOPS_ALLOW_EMBEDDED_IN_PRODUCTION)"
        severity = Severity.HIGH if stores else Severity.MEDIUM
        findings.append(_finding(severity, problem.title, detail, problem.field))
    return findings


CHECKS: tuple[Callable[[Settings], list[Finding]], ...] = (
    check_auth,
    check_cors,
    check_debug,
    check_docs,
    check_tls,
    check_secrets,
    check_metrics,
    check_incident_links,
    check_database,
    check_rate_limits,
    check_production_stores,
)


def audit_config(settings: Settings) -> CheckResult:
    """Every config check over `settings`, in order."""
    findings = [finding for check in CHECKS for finding in check(settings)]
    summary = f"{len(CHECKS)} checks over the settings of environment {settings.environment!r}"
    return CheckResult(CHECK, summary, findings)
