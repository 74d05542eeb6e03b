"""`ragops audit config`: each settings check against a Settings object built here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ragops.audit import config_check as cc
from ragops.audit.cli import audit_app
from ragops.audit.findings import Finding, Severity
from ragops.config import Settings

runner = CliRunner()
STRONG = "Zq8-generated-7c1f0e5b9a4d2e6f8a1b"  # pragma: allowlist secret


def settings(**values: Any) -> Settings:
    """Settings from `values` only: no .env file, defaults for the rest."""
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def prod(**values: Any) -> Settings:
    return settings(environment="production", **values)


def titles(findings: list[Finding]) -> list[tuple[str, Severity]]:
    return [(f.title, f.severity) for f in findings]


PRODUCTION_SERVERS: dict[str, Any] = {
    "database_url": f"postgresql+asyncpg://ragops:{STRONG}@db.internal/ragops",
    "qdrant_url": "https://vectors.internal:6333",
    "auto_migrate": False,
    "demo_corpus": False,
    "incident_link_secret": STRONG,
}


@pytest.mark.parametrize("environment", ["development", "test"])
def test_defaults_pass(environment: str) -> None:
    assert cc.audit_config(settings(environment=environment)).findings == []


def test_production_on_servers_passes() -> None:
    on_servers = prod(redis_url=f"redis://:{STRONG}@cache:6379/0", **PRODUCTION_SERVERS)
    assert cc.audit_config(on_servers).findings == []


def test_production_defaults_are_flagged() -> None:
    assert titles(cc.check_production_stores(prod())) == [
        ("Embedded SQLite database in production", Severity.HIGH),
        ("Embedded vector store in production", Severity.HIGH),
        ("No Redis in production", Severity.HIGH),
        ("Auto-migration in production", Severity.MEDIUM),
        ("Demo corpus on in production", Severity.MEDIUM),
    ]


def test_auth_off() -> None:
    assert titles(cc.check_auth(settings(auth_enabled=False))) == [
        ("Authentication is off", Severity.HIGH)
    ]
    assert cc.check_auth(prod(auth_enabled=False))[0].severity is Severity.CRITICAL
    assert cc.check_auth(prod()) == []


def test_cors() -> None:
    assert cc.check_cors(settings(cors_origins=["https://app.example.com"])) == []
    assert titles(cc.check_cors(settings(cors_origins=["*"]))) == [
        ("CORS allows any origin", Severity.HIGH)
    ]
    with_credentials = settings(cors_origins=["*"], cors_allow_credentials=True)
    assert titles(cc.check_cors(with_credentials)) == [
        ("CORS allows any origin with credentials", Severity.CRITICAL)
    ]
    assert cc.check_cors(settings(cors_origins=["null"]))[0].severity is Severity.HIGH


def test_debug_and_echo() -> None:
    assert titles(cc.check_debug(settings(db_echo=True))) == [("SQL echo is on", Severity.MEDIUM)]
    assert cc.check_debug(prod(db_echo=True))[0].severity is Severity.HIGH
    assert cc.check_debug(settings(log_level="DEBUG")) == []
    assert titles(cc.check_debug(prod(log_level="debug"))) == [
        ("DEBUG logging in production", Severity.MEDIUM)
    ]


def test_docs() -> None:
    assert cc.check_docs(settings(docs_enabled=True)) == []
    assert cc.check_docs(prod()) == []  # unset means off in production
    assert cc.check_docs(prod(docs_enabled=False)) == []
    assert titles(cc.check_docs(prod(docs_enabled=True))) == [
        ("API docs served in production", Severity.MEDIUM)
    ]


def test_tls_settings() -> None:
    assert cc.check_tls(settings(hsts_enabled=False)) == []
    assert titles(cc.check_tls(prod(hsts_enabled=False))) == [
        ("HSTS off in production", Severity.HIGH)
    ]
    assert cc.check_tls(prod(llm_base_url="http://127.0.0.1:8080/v1")) == []
    assert cc.check_tls(prod(llm_base_url="https://llm.example.com/v1")) == []
    [plain] = cc.check_tls(prod(qdrant_url="http://qdrant.internal:6333"))
    assert plain.title == "Remote service over plain HTTP" and plain.location == "RAGOPS_QDRANT_URL"


@pytest.mark.parametrize("value", ["", "changeme", "password", "postgres", "  Secret "])
def test_weak_secrets(value: str) -> None:
    [weak] = cc.check_secrets(settings(llm_api_key=value))
    assert weak.title == "Default or weak secret" and weak.severity is Severity.HIGH
    assert weak.location == "RAGOPS_LLM_API_KEY"
    assert cc.check_secrets(prod(qdrant_api_key=value))[0].severity is Severity.CRITICAL


@pytest.mark.parametrize(
    ("field", "location"),
    [
        ("incident_link_secret", "RAGOPS_INCIDENT_LINK_SECRET"),
        ("alert_webhook_token", "RAGOPS_ALERT_WEBHOOK_TOKEN"),
        ("oncall_calendar_token", "RAGOPS_ONCALL_CALENDAR_TOKEN"),
        ("pagerduty_routing_key", "RAGOPS_PAGERDUTY_ROUTING_KEY"),
        ("pagerduty_webhook_secret", "RAGOPS_PAGERDUTY_WEBHOOK_SECRET"),
    ],
)
def test_weak_link_secret_and_webhook_token(field: str, location: str) -> None:
    """A guessable link secret forges acknowledge links, a guessable webhook token lets anyone
    post alerts, a guessable calendar token reads the rota, a placeholder routing key pages no
    one, a guessable PagerDuty webhook secret lets anyone acknowledge or resolve incidents:
    flagged like the other secrets."""
    [weak] = cc.check_secrets(settings(**{field: "changeme"}))
    assert (weak.title, weak.severity, weak.location) == (
        "Default or weak secret",
        Severity.HIGH,
        location,
    )
    assert cc.check_secrets(prod(**{field: "password"}))[0].severity is Severity.CRITICAL
    assert cc.check_secrets(prod(**{field: STRONG})) == []


def test_strong_secrets_pass() -> None:
    values = {"llm_api_key": STRONG, "qdrant_api_key": STRONG, "metrics_token": STRONG}
    assert cc.check_secrets(prod(**values)) == []


def test_metrics_protection() -> None:
    assert cc.check_metrics(settings(host="127.0.0.1")) == []
    assert cc.check_metrics(settings(host="::1")) == []
    assert titles(cc.check_metrics(settings(host="0.0.0.0"))) == [
        ("Metrics open to the network", Severity.HIGH)
    ]
    assert cc.check_metrics(settings(host="0.0.0.0", metrics_token=STRONG)) == []
    short = settings(host="0.0.0.0", metrics_token="abc123xyz")
    assert titles(cc.check_metrics(short)) == [("Short metrics token", Severity.MEDIUM)]


def test_production_without_a_shared_incident_link_secret_is_flagged() -> None:
    """Unset, each instance signs acknowledge links with its own key: a page's link opened on
    another instance answers 403."""
    assert titles(cc.check_incident_links(prod())) == [
        ("Acknowledge links signed per instance", Severity.MEDIUM)
    ]
    unshared = PRODUCTION_SERVERS | {"incident_link_secret": None}
    on_servers = prod(redis_url=f"redis://:{STRONG}@cache:6379/0", **unshared)
    (finding,) = cc.audit_config(on_servers).findings
    assert finding.location == "RAGOPS_INCIDENT_LINK_SECRET"
    assert cc.check_incident_links(prod(incident_link_secret=STRONG)) == []
    assert cc.check_incident_links(settings()) == []  # one development instance: its own key


def test_database_credentials() -> None:
    default = "postgresql+asyncpg://postgres:postgres@db:5432/ragops"  # pragma: allowlist secret
    [finding] = cc.check_database(prod(database_url=default))
    assert finding.severity is Severity.CRITICAL and finding.location == "RAGOPS_DATABASE_URL"
    assert cc.check_database(settings(database_url=default))[0].severity is Severity.LOW
    strong = f"postgresql+asyncpg://ragops:{STRONG}@db:5432/ragops"
    assert cc.check_database(prod(database_url=strong)) == []
    assert cc.check_database(prod(database_url="postgresql+asyncpg://db/ragops")) == []
    no_password = cc.check_database(prod(redis_url="redis://default@cache:6379/0"))
    assert [f.location for f in no_password] == ["RAGOPS_REDIS_URL"]
    assert cc.check_database(prod()) == []  # the embedded SQLite file has no credentials


def test_rate_limits_and_proxies() -> None:
    assert cc.check_rate_limits(settings(rate_limit_chat="10 per second")) == []
    [bad] = cc.check_rate_limits(settings(rate_limit_ingest="lots"))
    assert bad.title == "Rate limit not understood" and bad.location == "RAGOPS_RATE_LIMIT_INGEST"
    assert cc.check_rate_limits(settings(trusted_proxies=["10.0.0.0/8"])) == []
    [proxy] = cc.check_rate_limits(settings(trusted_proxies=["*"]))
    assert proxy.title == "Every client trusted as a proxy"


def test_cli_reads_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .env file here
    monkeypatch.setenv("RAGOPS_ENVIRONMENT", "production")
    for name, value in PRODUCTION_SERVERS.items():
        monkeypatch.setenv("RAGOPS_" + name.upper(), str(value).lower())
    monkeypatch.setenv("RAGOPS_REDIS_URL", f"redis://:{STRONG}@cache:6379/0")
    monkeypatch.setenv("RAGOPS_CORS_ORIGINS", '["*"]')
    monkeypatch.setenv("RAGOPS_CORS_ALLOW_CREDENTIALS", "true")
    result = runner.invoke(audit_app, ["config", "-o", "out"])
    assert result.exit_code == 1, result.output
    [finding] = json.loads((tmp_path / "out" / "report.json").read_text())["findings"]
    assert finding["severity"] == "critical" and finding["location"] == "RAGOPS_CORS_ORIGINS"
    monkeypatch.setenv("RAGOPS_CORS_ORIGINS", '["https://app.example.com"]')
    assert runner.invoke(audit_app, ["config", "-o", "out"]).exit_code == 0


def test_cli_refuses_settings_that_do_not_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAGOPS_PORT", "not-a-port")
    result = runner.invoke(audit_app, ["config", "-o", "out"])
    assert result.exit_code == 2
