"""deploy/docker-compose.yml, checked offline (no Docker needed): it parses, has every part the
operations plan names, and wires them as documented: two ragops instances that start after the
one-off migration and never migrate themselves, PostgreSQL with pgvector, Qdrant, Redis, and
the shipped Prometheus rules, Alertmanager routing and Grafana dashboard mounted from deploy/."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())  # merges the x-ragops anchor
    return data


def services() -> dict[str, Any]:
    found: dict[str, Any] = compose()["services"]
    return found


def test_every_part_is_there() -> None:
    assert {
        "ragops-1", "ragops-2", "migrate", "postgres", "qdrant", "redis",
        "prometheus", "alertmanager", "grafana",
    } <= services().keys()  # fmt: skip
    assert services()["postgres"]["image"].startswith("pgvector/pgvector:")


def test_instances_run_the_image_after_the_migration() -> None:
    for name in ("ragops-1", "ragops-2"):
        service = services()[name]
        assert service["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
        assert (DEPLOY.parent / service["build"]["dockerfile"]).is_file()
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        env = service["environment"]
        assert env["RAGOPS_AUTO_MIGRATE"] == "false" and env["RAGOPS_ENVIRONMENT"] == "production"
        assert env["RAGOPS_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert "@postgres:5432/" in env["RAGOPS_DATABASE_URL"]
        assert env["RAGOPS_QDRANT_URL"] == "http://qdrant:6333"
        assert env["RAGOPS_REDIS_URL"] == "redis://redis:6379/0"
    ports = {services()[n]["ports"][0] for n in ("ragops-1", "ragops-2")}
    assert len(ports) == 2, "each instance needs its own host port"
    migrate = services()["migrate"]
    assert migrate["command"] == ["ragops", "db", "upgrade"] and migrate["restart"] == "no"


def test_no_secret_is_written_in_the_file() -> None:
    """Passwords and tokens come from the environment (`${VAR:?...}` fails when unset)."""
    env = services()["ragops-1"]["environment"]
    assert env["RAGOPS_METRICS_TOKEN"].startswith("${RAGOPS_METRICS_TOKEN:?")
    assert "${POSTGRES_PASSWORD:?" in env["RAGOPS_DATABASE_URL"]
    assert services()["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${")
    assert services()["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"].startswith("${")


def test_the_instances_share_one_incident_link_secret() -> None:
    """A page's acknowledge link is signed by one instance and opened on any: unset, each
    instance would sign with a key of its own data directory and refuse the other's links."""
    for name in ("ragops-1", "ragops-2"):
        env = services()[name]["environment"]
        assert env["RAGOPS_INCIDENT_LINK_SECRET"].startswith("${RAGOPS_INCIDENT_LINK_SECRET:?")


def _mounted(service: str) -> dict[str, str]:
    mounts = {}
    for volume in services()[service]["volumes"]:
        source, target = volume.split(":")[:2]
        mounts[target] = source
    return mounts


def test_monitoring_reuses_the_shipped_configs() -> None:
    prometheus = _mounted("prometheus")
    assert prometheus["/etc/prometheus/rules"] == "./prometheus/rules"
    config = yaml.safe_load((DEPLOY / prometheus["/etc/prometheus/prometheus.yml"]).read_text())
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "ragops"  # what every rule selects
    assert sorted(job["static_configs"][0]["targets"]) == ["ragops-1:8000", "ragops-2:8000"]
    assert config["rule_files"] == ["rules/ragops-recording.yml", "rules/ragops-alerts.yml"]
    for rule_file in config["rule_files"]:
        assert (DEPLOY / "prometheus" / rule_file).is_file()
    assert job["authorization"]["credentials_file"] == "/run/secrets/ragops-metrics-token"
    assert services()["prometheus"]["secrets"] == ["ragops-metrics-token"]
    alertmanager = _mounted("alertmanager")
    assert alertmanager["/etc/alertmanager/alertmanager.yml"] == "./compose/alertmanager.yml"
    grafana = _mounted("grafana")
    assert grafana["/var/lib/grafana/dashboards/ragops.json"] == "./grafana/ragops.json"
    provisioning = DEPLOY / grafana["/etc/grafana/provisioning"].removeprefix("./")
    datasource = yaml.safe_load((provisioning / "datasources" / "ragops.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    for source in [*prometheus.values(), *alertmanager.values(), *grafana.values()]:
        if source.startswith("./") and "${" not in source:
            assert (DEPLOY / source).exists(), source


SHIPPED_ALERTMANAGER = DEPLOY / "alertmanager" / "alertmanager.yml"
COMPOSE_ALERTMANAGER = DEPLOY / "compose" / "alertmanager.yml"
TOKEN_SECRET = "ragops-alert-webhook-token"  # pragma: allowlist secret


def _webhooks(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [hook for r in config["receivers"] for hook in r.get("webhook_configs", [])]


def test_alertmanager_reaches_the_ragops_instances() -> None:
    """Inside the Alertmanager container 127.0.0.1 is Alertmanager itself: compose's config
    posts the alerts to the alias both instances carry, on the port they serve."""
    mounted = _mounted("alertmanager")["/etc/alertmanager/alertmanager.yml"]
    config = yaml.safe_load((DEPLOY / mounted).read_text())
    hooks = _webhooks(config)
    assert len(hooks) == 3  # the page, the P3 incident (with the chat) and the daily digest
    for hook in hooks:
        url = urlsplit(hook["url"])
        assert url.path == "/v1/ops/alerts/webhook"
        assert url.hostname not in {"127.0.0.1", "localhost", "::1"}
        assert url.port == 8000  # what `ragops serve` binds in the image
        for name in ("ragops-1", "ragops-2"):
            aliases = services()[name]["networks"]["default"]["aliases"]
            assert url.hostname in aliases, name
        assert services()["migrate"].get("networks") is None  # a one-off never answers alerts


def test_alertmanager_and_the_instances_share_the_webhook_token() -> None:
    """Alertmanager's Bearer token is the compose secret made from RAGOPS_ALERT_WEBHOOK_TOKEN,
    the variable the instances read: unset on the instances, ragops would refuse it."""
    assert compose()["secrets"][TOKEN_SECRET] == {"environment": "RAGOPS_ALERT_WEBHOOK_TOKEN"}
    assert TOKEN_SECRET in services()["alertmanager"]["secrets"]
    config = yaml.safe_load(COMPOSE_ALERTMANAGER.read_text())
    for hook in _webhooks(config):
        authorization = hook["http_config"]["authorization"]
        assert authorization["type"] == "Bearer"
        assert authorization["credentials_file"] == f"/run/secrets/{TOKEN_SECRET}"
    for name in ("ragops-1", "ragops-2"):
        env = services()[name]["environment"]
        assert env["RAGOPS_ALERT_WEBHOOK_TOKEN"].startswith("${RAGOPS_ALERT_WEBHOOK_TOKEN:?")


def test_compose_alertmanager_is_the_shipped_routing() -> None:
    """deploy/compose/alertmanager.yml differs from the shipped file only in the webhook's
    address and token file: routes, receivers, templates and inhibitions stay one."""
    shipped = yaml.safe_load(SHIPPED_ALERTMANAGER.read_text())
    in_compose = yaml.safe_load(COMPOSE_ALERTMANAGER.read_text())
    for ours, theirs in zip(_webhooks(in_compose), _webhooks(shipped), strict=True):
        ours["url"] = theirs["url"]
        ours["http_config"] = theirs["http_config"]
    assert in_compose == shipped
    # The shipped file keeps serving an Alertmanager beside ragops on the same host.
    for hook in _webhooks(shipped):
        assert hook["url"] == "http://127.0.0.1:8000/v1/ops/alerts/webhook"
