"""The Alertmanager config: amtool accepts it and each severity reaches its receiver."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops.support import OpsTools, alert_rules

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "alertmanager" / "alertmanager.yml"


def amtool(tools: OpsTools, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tools.amtool, *args], capture_output=True, text=True, timeout=60, check=False
    )


def config() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    return data


def receiver(name: str) -> dict[str, Any]:
    return next(r for r in config()["receivers"] if r["name"] == name)


COMPOSE_CONFIG = CONFIG.parents[1] / "compose" / "alertmanager.yml"


@pytest.mark.parametrize("path", [CONFIG, COMPOSE_CONFIG], ids=["shipped", "compose"])
def test_amtool_check_config_passes(ops_tools: OpsTools, path: Path) -> None:
    result = amtool(ops_tools, "check-config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ("P1", "ragops-page"),
        ("P2", "ragops-page"),
        ("P3", "ragops-chat"),
        ("P4", "ragops-digest"),
    ],
)
def test_each_severity_reaches_its_receiver(
    ops_tools: OpsTools, severity: str, expected: str
) -> None:
    result = amtool(
        ops_tools,
        "config",
        "routes",
        "test",
        f"--config.file={CONFIG}",
        f"--verify.receivers={expected}",
        "service=ragops",
        f"severity={severity}",
        "alertname=RagopsExample",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == expected


def test_every_alert_severity_is_routed_to_a_known_receiver(ops_tools: OpsTools) -> None:
    routed = {"P1": "ragops-page", "P2": "ragops-page", "P3": "ragops-chat", "P4": "ragops-digest"}
    for rule in alert_rules():
        labels = [f"{key}={value}" for key, value in rule["labels"].items()]
        result = amtool(
            ops_tools, "config", "routes", "test", f"--config.file={CONFIG}",
            f"alertname={rule['alert']}", *labels,
        )  # fmt: skip
        assert result.stdout.strip() == routed[rule["labels"]["severity"]], rule["alert"]


def test_pages_go_to_pagerduty_and_the_service_webhook() -> None:
    page = receiver("ragops-page")
    (pagerduty,) = page["pagerduty_configs"]
    assert pagerduty["routing_key_file"].startswith("/")
    assert "routing_key" not in pagerduty, "the routing key must come from a file"
    assert pagerduty["url"].startswith("https://events.pagerduty.com/v2/")
    assert "runbook_url" in pagerduty["links"][0]["href"]
    assert "runbook_url" in pagerduty["details"]["runbook_url"]
    (webhook,) = page["webhook_configs"]
    assert webhook["url"].endswith("/v1/ops/alerts/webhook") and webhook["send_resolved"]
    authorization = webhook["http_config"]["authorization"]
    assert authorization["type"] == "Bearer" and authorization["credentials_file"].startswith("/")
    (chat,) = receiver("ragops-chat")["slack_configs"]
    assert "api_url_file" in chat and "api_url" not in chat


def test_p4_alerts_are_batched_daily() -> None:
    (digest,) = [r for r in config()["route"]["routes"] if r["receiver"] == "ragops-digest"]
    assert digest["group_interval"] == "24h" and digest["repeat_interval"] == "24h"


def test_database_down_inhibits_the_slo_pages_it_causes() -> None:
    alerts = {rule["alert"] for rule in alert_rules()}
    (rule,) = [
        r
        for r in config()["inhibit_rules"]
        if "RagopsDatabaseDown" in " ".join(r["source_matchers"])
    ]
    assert rule["equal"] == ["service"]
    targets = " ".join(rule["target_matchers"])
    for name in ("RagopsAvailabilityFastBurn", "RagopsLatencyFastBurn", "RagopsDatabaseDown"):
        assert name in alerts
    assert "Availability(FastBurn|SlowBurn)" in targets and "Latency(FastBurn|SlowBurn" in targets


def test_llm_provider_down_inhibits_the_circuit_alerts() -> None:
    """With no provider answering, one P3 says so; the per-provider circuit alerts are held."""
    alerts = {rule["alert"] for rule in alert_rules()}
    assert {"RagopsLLMProviderDown", "RagopsLLMCircuitOpen"} <= alerts
    (rule,) = [
        r
        for r in config()["inhibit_rules"]
        if 'alertname="RagopsLLMProviderDown"' in r["source_matchers"]
    ]
    assert rule["target_matchers"] == ['service="ragops"', 'alertname="RagopsLLMCircuitOpen"']
    assert rule["equal"] == ["service"]


def test_a_burn_rate_page_holds_back_the_error_rate_message() -> None:
    """Above 6 % errors a burn-rate alert pages; the P3 error-rate alert would say it again."""
    alerts = {rule["alert"] for rule in alert_rules()}
    assert {"RagopsErrorRateHigh", "RagopsAvailabilityFastBurn"} <= alerts
    (rule,) = [
        r
        for r in config()["inhibit_rules"]
        if r["target_matchers"] == ['service="ragops"', 'alertname="RagopsErrorRateHigh"']
    ]
    assert 'alertname=~"RagopsAvailability(FastBurn|SlowBurn)"' in rule["source_matchers"]
    assert rule["equal"] == ["service"]
