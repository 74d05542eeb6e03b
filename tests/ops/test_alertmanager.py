"""The Alertmanager config: amtool accepts it and each severity reaches its receiver; a real
Alertmanager (the Debian package) with the shipped config delivers a P3 alert to the team chat
and the service's alert webhook, firing and resolved, and holds back an alert an inhibition
rule covers (loopback receivers stand in for the chat, PagerDuty and the service)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import free_port
from tests.ops.processes import Process, Receiver, wait_until
from tests.ops.support import OpsTools, alert_rules
from tests.ops.test_alerting_e2e import (
    CHAT_PATH,
    PAGERDUTY_PATH,
    WEBHOOK_PATH,
    alertmanager_config,
    chat_messages,
    pagerduty_events,
    webhook_alerts,
)

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
        ("P3", "ragops-chat-incident"),
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
    routed = {
        "P1": "ragops-page",
        "P2": "ragops-page",
        "P3": "ragops-chat-incident",
        "P4": "ragops-digest",
    }
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


@pytest.mark.parametrize("path", [CONFIG, COMPOSE_CONFIG], ids=["shipped", "compose"])
def test_p3_goes_to_the_chat_and_the_service_webhook(path: Path) -> None:
    """P3: the chat message of `ragops-chat`, unchanged, and the webhook of the page (the same
    URL and token, resolved alerts too), so the service opens a P3 incident and pages."""
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    receivers = {r["name"]: r for r in data["receivers"]}
    (route,) = [r for r in data["route"]["routes"] if 'severity="P3"' in r["matchers"]]
    p3 = receivers[route["receiver"]]
    assert set(p3) == {"name", "slack_configs", "webhook_configs"}, "no PagerDuty for P3"
    assert p3["slack_configs"] == receivers["ragops-chat"]["slack_configs"]
    assert p3["webhook_configs"] == receivers["ragops-page"]["webhook_configs"]
    (webhook,) = p3["webhook_configs"]
    assert webhook["url"].endswith("/v1/ops/alerts/webhook") and webhook["send_resolved"] is True


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


# --- a real Alertmanager with the shipped config --------------------------------------------

TOKEN = "am-test-webhook-token-0123456789"  # pragma: allowlist secret
ROUTING_KEY = "am0test0routing0key000000000000c"  # pragma: allowlist secret
QUIET_SECONDS = 4.0  # several 1-second group intervals: long enough for a held alert to leak


@dataclass
class LiveAlertmanager:
    url: str
    receiver: Receiver
    process: Process

    def post(self, name: str, severity: str, *, resolved: bool = False) -> None:
        alert: dict[str, Any] = {
            "labels": {"alertname": name, "severity": severity, "service": "ragops"},
            "annotations": {
                "summary": f"{name} summary",
                "description": f"{name} description",
                "runbook_url": f"https://runbooks.test/{name}",
            },
        }
        if resolved:
            alert["endsAt"] = datetime.now(UTC).isoformat()
        response = httpx.post(f"{self.url}/api/v2/alerts", json=[alert], timeout=5)
        assert response.status_code == 200, response.text

    def held(self, name: str) -> dict[str, Any] | None:
        """Alertmanager's view of the active alert `name` (state, receivers, inhibitedBy)."""
        alerts = httpx.get(f"{self.url}/api/v2/alerts", timeout=5).json()
        found = [a for a in alerts if a["labels"]["alertname"] == name]
        return found[0] if found else None

    def wait(self, what: str, check: Any, timeout: float = 30) -> Any:
        return wait_until(check, timeout=timeout, what=what, processes=[self.process])


@pytest.fixture
def alertmanager(ops_tools: OpsTools, tmp_path: Path) -> Iterator[LiveAlertmanager]:
    """The shipped config with receiver URLs on a loopback receiver, secret files of the
    test's and 1-second batching (alertmanager_config of the alerting e2e test)."""
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    assert binary, "scripts/install-ops-tools.sh installs Alertmanager"
    receiver = Receiver().start()
    secrets = {}
    for name, value in {
        "pagerduty-routing-key": ROUTING_KEY,
        "chat-webhook-url": receiver.url + CHAT_PATH,
        "ragops-alert-webhook-token": TOKEN,
    }.items():
        secrets[name] = tmp_path / name
        secrets[name].write_text(value + "\n")
    config = tmp_path / "alertmanager.yml"
    config.write_text(yaml.safe_dump(alertmanager_config(receiver.url, secrets), sort_keys=False))
    (tmp_path / "am-data").mkdir()
    port = free_port()
    process = Process(
        "alertmanager",
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        tmp_path / "alertmanager.log",
        cwd=tmp_path,
    )
    live = LiveAlertmanager(f"http://127.0.0.1:{port}", receiver, process)
    try:
        live.wait("Alertmanager ready", lambda: httpx.get(f"{live.url}/-/ready").status_code == 200)
        yield live
    except BaseException:
        print(process.tail())
        raise
    finally:
        process.stop()
        receiver.stop()


def test_a_p3_alert_reaches_the_chat_and_the_service_webhook(
    alertmanager: LiveAlertmanager,
) -> None:
    name, receiver = "RagopsRedisDown", alertmanager.receiver
    alertmanager.post(name, "P3")
    alertmanager.wait(
        "the chat message and the webhook",
        lambda: chat_messages(receiver, name) and webhook_alerts(receiver, name, "firing"),
    )
    held = alertmanager.held(name)
    assert held is not None and [r["name"] for r in held["receivers"]] == ["ragops-chat-incident"]
    (message,) = chat_messages(receiver, name)
    assert message["title"] == f"[FIRING] [P3] {name}"
    assert message["title_link"] == f"https://runbooks.test/{name}"
    (delivery,) = receiver.deliveries(WEBHOOK_PATH)
    assert delivery.body["receiver"] == "ragops-chat-incident"
    assert delivery.body["status"] == "firing" and delivery.body["version"] == "4"
    assert 'severity="P3"' in delivery.body["groupKey"]
    (fired,) = delivery.body["alerts"]
    assert fired["labels"] == {"alertname": name, "severity": "P3", "service": "ragops"}
    headers = {key.lower(): value for key, value in delivery.headers.items()}
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert not receiver.deliveries(PAGERDUTY_PATH), "Alertmanager pages no P3 itself"

    alertmanager.post(name, "P3", resolved=True)
    alertmanager.wait("the resolved alert", lambda: webhook_alerts(receiver, name, "resolved"))
    alertmanager.wait("the resolved chat message", lambda: len(chat_messages(receiver, name)) == 2)
    assert chat_messages(receiver, name)[1]["title"] == f"[RESOLVED] [P3] {name}"


@pytest.mark.parametrize(
    ("source", "severity"),
    [("RagopsAvailabilityFastBurn", "P2"), ("RagopsDatabaseDown", "P1")],
)
def test_an_inhibited_p3_alert_reaches_neither_chat_nor_webhook(
    alertmanager: LiveAlertmanager, source: str, severity: str
) -> None:
    """RagopsErrorRateHigh (P3) is held back while a burn-rate or database page fires, on the
    webhook as in the chat: it opens no incident of its own. Once the page resolves, it goes
    out, so only the inhibition held it."""
    target, receiver = "RagopsErrorRateHigh", alertmanager.receiver
    alertmanager.post(source, severity)
    alertmanager.wait("the page", lambda: pagerduty_events(receiver, source, "trigger"))
    alertmanager.post(target, "P3")

    def inhibited() -> bool:
        held = alertmanager.held(target)
        return bool(held and held["status"]["inhibitedBy"])

    alertmanager.wait(f"{target} inhibited", inhibited)
    quiet_until = time.monotonic() + QUIET_SECONDS
    while time.monotonic() < quiet_until:
        assert not chat_messages(receiver, target), "held back, yet sent to the chat"
        assert not webhook_alerts(receiver, target, "firing"), "held back, yet sent to ragops"
        time.sleep(0.25)
    assert inhibited()

    alertmanager.post(source, severity, resolved=True)
    alertmanager.wait(
        f"{target} once {source} resolved",
        lambda: chat_messages(receiver, target) and webhook_alerts(receiver, target, "firing"),
    )
