"""deploy/docker-compose.yml, checked offline (no Docker needed): it parses, has every part the
operations plan names, and wires them as documented: two ragops instances that start after the
one-off migration and never migrate themselves, PostgreSQL with pgvector, Qdrant, Redis, and
the shipped Prometheus rules, Alertmanager routing and Grafana dashboard mounted from deploy/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    assert alertmanager["/etc/alertmanager/alertmanager.yml"] == "./alertmanager/alertmanager.yml"
    grafana = _mounted("grafana")
    assert grafana["/var/lib/grafana/dashboards/ragops.json"] == "./grafana/ragops.json"
    provisioning = DEPLOY / grafana["/etc/grafana/provisioning"].removeprefix("./")
    datasource = yaml.safe_load((provisioning / "datasources" / "ragops.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    for source in [*prometheus.values(), *alertmanager.values(), *grafana.values()]:
        if source.startswith("./") and "${" not in source:
            assert (DEPLOY / source).exists(), source
