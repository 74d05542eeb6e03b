"""End to end: a real Prometheus scrapes a running ragops, real product alerts fire, and a real
Alertmanager delivers them through the shipped routing tree to receivers on loopback.

ragops runs on a fresh PostgreSQL database with `RAGOPS_LLM_BASE_URL` pointing at a closed
loopback port, and a metrics token (Prometheus scrapes with it from a credentials file). Then
the database stops accepting connections. `/readyz` (what load-balancer probes call) records
both dependencies as down in `ragops_dependency_up`, and:

- `RagopsDatabaseDown` (P1) goes to `ragops-page`: PagerDuty Events v2 and the service webhook;
- `RagopsLLMProviderDown` (P3) goes to `ragops-chat-incident`: the Slack-compatible chat
  webhook and the service webhook (which opens a P3 incident), never to PagerDuty.

Once the database accepts connections again, the page resolves (PagerDuty `resolve`).

The configs are the shipped ones with the smallest changes a test needs, each explicit below:
Prometheus gets 1 s intervals, the test's target, token file, rule copies and Alertmanager;
the alert rules keep everything but the `for:` of the two alerts exercised (2 s); the
Alertmanager config keeps its routes, receivers, templates and inhibitions, with only URLs,
secret file paths, `group_wait` and `group_interval` replaced. docs/alerting.md, section
"End-to-end alert test".
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
import yaml

from tests.conftest import (
    PG_HOST,
    PG_PORT,
    PG_USER,
    LiveServer,
    RunningServer,
    free_port,
    make_settings,
    pg_database,
)
from tests.ops.processes import Delivery, Process, Receiver, off_loop, tails, wait_until
from tests.ops.support import ROOT, RUNBOOK_URL, RUNBOOKS, OpsTools, alert_rules

pytestmark = pytest.mark.postgres

PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
RULES_DIR = ROOT / "deploy" / "prometheus" / "rules"
ALERTMANAGER_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"

METRICS_TOKEN = "e2e-metrics-token-0123456789abcdef"
ROUTING_KEY = "e2e0routing0key0000000000000000a"  # PagerDuty routing keys are 32 characters
CHAT_PATH = "/chat/services/T000/B000/e2e"
PAGERDUTY_PATH = "/v2/enqueue"
WEBHOOK_PATH = "/v1/ops/alerts/webhook"
WEBHOOK_TOKEN = "alert-webhook-token-for-tests"
ENVIRONMENT = "e2e"

DATABASE_DOWN = "RagopsDatabaseDown"
LLM_DOWN = "RagopsLLMProviderDown"
# The only change to the alert rules: these alerts wait 2 s instead of minutes. Every other
# alert keeps its `for:` (2 minutes or more), so nothing else can fire during the test.
SHORT_FOR = {DATABASE_DOWN: "2s", LLM_DOWN: "2s"}
# Alertmanager batching, shortened wherever the shipped routes set it.
SHORT_GROUPING = {"group_wait": "1s", "group_interval": "1s"}

START_SECONDS = 30.0  # Prometheus and Alertmanager ready, first successful scrape
FIRE_SECONDS = 40.0  # from the outage to the notifications
RESOLVE_SECONDS = 30.0  # from the recovery to the resolve event


# --- the configs: shipped files, explicit substitutions ----------------------------------


def shortened_alert_rules(text: str) -> str:
    """The alert rules with `for:` of the alerts in `SHORT_FOR` replaced; nothing else."""
    data: dict[str, Any] = yaml.safe_load(text)
    changed = set()
    for group in data["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") in SHORT_FOR:
                rule["for"] = SHORT_FOR[rule["alert"]]
                changed.add(rule["alert"])
    assert changed == set(SHORT_FOR), f"alerts not found in the rules: {set(SHORT_FOR) - changed}"
    return str(yaml.safe_dump(data, sort_keys=False))


def prometheus_config(
    rules: list[Path], *, target: str, token_file: Path, alertmanager: str
) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml with 1 s intervals and the test's addresses and files."""
    config: dict[str, Any] = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    config["global"].update(
        scrape_interval="1s",
        scrape_timeout="1s",
        evaluation_interval="1s",
        external_labels={"environment": ENVIRONMENT},
    )
    assert [Path(name).name for name in config["rule_files"]] == [path.name for path in rules]
    config["rule_files"] = [str(path) for path in rules]
    (managers,) = config["alerting"]["alertmanagers"]
    managers["static_configs"] = [{"targets": [alertmanager]}]
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "ragops", 'the rules select {job="ragops"}'
    job["authorization"]["credentials_file"] = str(token_file)
    job["static_configs"] = [{"targets": [target]}]
    return config


def _rebase(url: str, base: str) -> str:
    """`url` with its scheme and host replaced by those of `base` (path and query kept)."""
    parts = urlsplit(url)
    return base + parts.path + (f"?{parts.query}" if parts.query else "")


def _shorten_grouping(route: dict[str, Any]) -> None:
    for key, value in SHORT_GROUPING.items():
        if key in route:
            route[key] = value
    for child in route.get("routes", []):
        _shorten_grouping(child)


def alertmanager_config(receiver_url: str, secrets: dict[str, Path]) -> dict[str, Any]:
    """deploy/alertmanager/alertmanager.yml with every receiver URL rebased on the test's
    receiver, every secret file taken from `secrets` (by file name) and short batching."""
    config: dict[str, Any] = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    _shorten_grouping(config["route"])
    for receiver in config["receivers"]:
        for kind, entries in receiver.items():
            if kind == "name":
                continue
            for entry in entries:
                _rebase_entry(entry, receiver_url, secrets)
    return config


def _rebase_entry(entry: dict[str, Any], receiver_url: str, secrets: dict[str, Path]) -> None:
    for key, value in entry.items():
        if isinstance(value, dict):  # http_config: authorization: credentials_file
            _rebase_entry(value, receiver_url, secrets)
        elif key in ("url", "api_url"):
            entry[key] = _rebase(value, receiver_url)
        elif key.endswith("_file"):
            entry[key] = str(secrets[Path(value).name])


# --- PostgreSQL: the outage --------------------------------------------------------------


@contextmanager
def fresh_database() -> Iterator[str]:
    """A fresh PostgreSQL database (dropped afterwards), made off the main thread."""
    database = pg_database()
    url = off_loop(database.__enter__)
    try:
        yield url
    finally:
        off_loop(database.__exit__, None, None, None)


def allow_connections(url: str, allowed: bool) -> None:
    """Open or close the database to new connections; closing also ends the open ones."""
    name = url.rsplit("/", 1)[1]

    async def run() -> None:
        conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
        try:
            await conn.execute(
                f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}'
            )
            if not allowed:
                await conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = $1 AND pid <> pg_backend_pid()",
                    name,
                )
        finally:
            await conn.close()

    off_loop(asyncio.run, run())


# --- what the receivers got ----------------------------------------------------------------


def pagerduty_events(receiver: Receiver, alert: str, action: str) -> list[dict[str, Any]]:
    return [
        d.body
        for d in receiver.deliveries(PAGERDUTY_PATH)
        if d.body["payload"]["class"] == alert and d.body["event_action"] == action
    ]


def webhook_alerts(receiver: Receiver, alert: str, status: str) -> list[dict[str, Any]]:
    return [
        item
        for d in receiver.deliveries(WEBHOOK_PATH)
        for item in d.body["alerts"]
        if item["labels"]["alertname"] == alert and item["status"] == status
    ]


def webhook_deliveries(receiver: Receiver, alert: str) -> list[Delivery]:
    """The service webhook's deliveries that carry `alert`."""
    return [
        d
        for d in receiver.deliveries(WEBHOOK_PATH)
        if any(item["labels"]["alertname"] == alert for item in d.body["alerts"])
    ]


def chat_messages(receiver: Receiver, alert: str) -> list[dict[str, Any]]:
    return [
        attachment
        for d in receiver.deliveries(CHAT_PATH)
        for attachment in d.body["attachments"]
        if attachment["title"].endswith(f"] {alert}")
    ]


def describe(deliveries: list[Delivery]) -> str:
    return "\n".join(f"{d.path}: {d.body}" for d in deliveries) or "(nothing received)"


def runbook(alert: str) -> str:
    assert (RUNBOOKS / f"{alert}.md").is_file(), f"docs/runbooks/{alert}.md is missing"
    return RUNBOOK_URL.format(alert=alert)


def readiness(server: LiveServer) -> dict[str, Any]:
    """One `/readyz` call: a fresh check (no cache) that updates `ragops_dependency_up`."""
    body: dict[str, Any] = httpx.get(f"{server.base_url}/readyz", timeout=10).json()
    return body


def get_json(url: str) -> Any:
    response = httpx.get(url, timeout=5)
    response.raise_for_status()
    return response.json()


# --- the test --------------------------------------------------------------------------------


def test_outage_alerts_reach_pagerduty_and_chat(ops_tools: OpsTools, tmp_path: Path) -> None:
    prometheus_bin = shutil.which("prometheus")
    alertmanager_bin = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    assert prometheus_bin and alertmanager_bin, "install-ops-tools.sh installs both servers"

    processes: list[Process] = []
    receiver = Receiver().start()
    running: RunningServer | None = None
    try:
        with fresh_database() as database_url:
            settings = make_settings(
                tmp_path / "var",
                database_url=database_url,
                llm_base_url=f"http://127.0.0.1:{free_port()}/v1",  # nothing listens there
                metrics_token=METRICS_TOKEN,
                readiness_cache_seconds=0,
            )
            running = RunningServer(settings)
            server = off_loop(running.start)
            target = f"127.0.0.1:{running.port}"
            try:
                run_scenario(
                    tmp_path, server, target, database_url, receiver, processes,
                    prometheus_bin=prometheus_bin, alertmanager_bin=alertmanager_bin,
                )  # fmt: skip
            except BaseException:
                print(tails(processes))
                print("--- received ---\n" + describe(receiver.deliveries()))
                raise
            finally:
                for process in reversed(processes):
                    process.stop()
                running.stop()
                allow_connections(database_url, True)  # so the fixture can drop it
    finally:
        receiver.stop()


def run_scenario(
    tmp: Path,
    server: LiveServer,
    target: str,
    database_url: str,
    receiver: Receiver,
    processes: list[Process],
    *,
    prometheus_bin: str,
    alertmanager_bin: str,
) -> None:
    started = time.monotonic()
    # The metrics need the token, even from loopback.
    assert httpx.get(f"{server.base_url}/metrics", timeout=10).status_code == 401
    baseline = readiness(server)
    assert baseline["dependencies"]["database"]["status"] != "down", baseline
    assert baseline["dependencies"]["llm"]["status"] == "down", baseline

    # Secrets as files, like the deployment's.
    secrets_dir = tmp / "secrets"
    secrets_dir.mkdir()
    secrets = {
        "pagerduty-routing-key": ROUTING_KEY,
        "chat-webhook-url": receiver.url + CHAT_PATH,
        "ragops-metrics-token": METRICS_TOKEN,
        "ragops-alert-webhook-token": WEBHOOK_TOKEN,
    }
    files = {}
    for name, value in secrets.items():
        files[name] = secrets_dir / name
        files[name].write_text(value + "\n")
        files[name].chmod(0o600)

    # Alertmanager: the shipped routing tree.
    am_port = free_port()
    am_url = f"http://127.0.0.1:{am_port}"
    am_config = tmp / "alertmanager.yml"
    am_config.write_text(yaml.safe_dump(alertmanager_config(receiver.url, files), sort_keys=False))
    (tmp / "am-data").mkdir()
    processes.append(
        Process(
            "alertmanager",
            [
                alertmanager_bin,
                f"--config.file={am_config}",
                f"--storage.path={tmp / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
            ],
            tmp / "alertmanager.log",
            cwd=tmp,
        )
    )

    # Prometheus: the shipped rules, two `for:` shortened.
    rules_dir = tmp / "rules"
    rules_dir.mkdir()
    recording, alerting = rules_dir / "ragops-recording.yml", rules_dir / "ragops-alerts.yml"
    shutil.copyfile(RULES_DIR / recording.name, recording)
    alerting.write_text(shortened_alert_rules((RULES_DIR / alerting.name).read_text()))
    prom_port = free_port()
    prom_url = f"http://127.0.0.1:{prom_port}"
    prom_config = tmp / "prometheus.yml"
    config = prometheus_config(
        [recording, alerting],
        target=target,
        token_file=files["ragops-metrics-token"],
        alertmanager=f"127.0.0.1:{am_port}",
    )
    prom_config.write_text(yaml.safe_dump(config, sort_keys=False))
    processes.append(
        Process(
            "prometheus",
            [
                prometheus_bin,
                f"--config.file={prom_config}",
                f"--storage.tsdb.path={tmp / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            tmp / "prometheus.log",
            cwd=tmp,
        )
    )

    def is_ready(url: str) -> bool:
        return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200

    for name, url in (("alertmanager", am_url), ("prometheus", prom_url)):
        wait_until(partial(is_ready, url), timeout=START_SECONDS, what=name, processes=processes)

    # Every shipped alert is loaded, and the scrape with the token succeeds.
    loaded = get_json(f"{prom_url}/api/v1/rules?type=alert")["data"]["groups"]
    assert sum(len(group["rules"]) for group in loaded) == len(alert_rules())

    def scraped() -> dict[str, Any] | None:
        (active,) = get_json(f"{prom_url}/api/v1/targets")["data"]["activeTargets"]
        return active if active["health"] == "up" else None

    active = wait_until(
        scraped, timeout=START_SECONDS, what="a successful scrape", processes=processes
    )
    assert active["labels"]["job"] == "ragops" and active["lastError"] == ""

    # The outage: the database refuses connections; the probe records it.
    allow_connections(database_url, False)
    outage = time.monotonic()
    report = readiness(server)
    assert report["dependencies"]["database"]["status"] == "down", report
    assert "database_down" in report["reasons"], report

    def notified() -> bool:
        return bool(
            pagerduty_events(receiver, DATABASE_DOWN, "trigger")
            and webhook_alerts(receiver, DATABASE_DOWN, "firing")
            and chat_messages(receiver, LLM_DOWN)
            and webhook_alerts(receiver, LLM_DOWN, "firing")
        )

    wait_until(notified, timeout=FIRE_SECONDS, what="the notifications", processes=processes)
    fired = time.monotonic()

    # Alertmanager holds exactly the two alerts, each routed to its receiver.
    held = {a["labels"]["alertname"]: a for a in get_json(f"{am_url}/api/v2/alerts")}
    assert set(held) == {DATABASE_DOWN, LLM_DOWN}
    expected = {
        DATABASE_DOWN: ("P1", "database", "ragops-page"),
        LLM_DOWN: ("P3", "llm", "ragops-chat-incident"),
    }
    for alert, (severity, dependency, routed_to) in expected.items():
        labels, annotations = held[alert]["labels"], held[alert]["annotations"]
        assert labels == {
            "alertname": alert,
            "severity": severity,
            "service": "ragops",
            "dependency": dependency,
            "job": "ragops",
            "instance": target,
            "environment": ENVIRONMENT,
        }
        assert annotations["runbook_url"] == runbook(alert)
        assert annotations["summary"] and target in annotations["description"]
        assert [r["name"] for r in held[alert]["receivers"]] == [routed_to]

    # P1 -> PagerDuty Events v2.
    (event,) = pagerduty_events(receiver, DATABASE_DOWN, "trigger")
    url = runbook(DATABASE_DOWN)
    assert event["routing_key"] == ROUTING_KEY
    assert event["event_action"] == "trigger"
    assert event["dedup_key"]
    payload = event["payload"]
    assert payload["severity"] == "critical"
    assert payload["summary"] == "[P1] ragops cannot reach its database"
    assert payload["class"] == DATABASE_DOWN
    assert payload["component"] == payload["group"] == "ragops"
    assert payload["custom_details"]["runbook_url"] == url
    assert payload["custom_details"]["severity"] == "P1"
    assert payload["custom_details"]["firing"] == "1"
    assert event["links"] == [{"href": url, "text": "Runbook"}]

    # P1 -> and the service's own webhook, with every label.
    firing = webhook_alerts(receiver, DATABASE_DOWN, "firing")
    assert firing[0]["labels"] == held[DATABASE_DOWN]["labels"]
    assert firing[0]["annotations"]["runbook_url"] == url
    delivery = webhook_deliveries(receiver, DATABASE_DOWN)[0]
    page = delivery.body
    assert page["receiver"] == "ragops-page" and page["status"] == "firing"
    headers = {key.lower(): value for key, value in delivery.headers.items()}
    assert headers["authorization"] == f"Bearer {WEBHOOK_TOKEN}"

    # P3 -> the chat and the service's webhook (a P3 incident there), never PagerDuty.
    (message,) = chat_messages(receiver, LLM_DOWN)
    url = runbook(LLM_DOWN)
    assert message["title"] == f"[FIRING] [P3] {LLM_DOWN}"
    assert message["title_link"] == url
    assert "*ragops cannot reach its LLM provider*" in message["text"]
    assert f"Runbook: {url}" in message["text"]
    assert not pagerduty_events(receiver, LLM_DOWN, "trigger")
    delivery = webhook_deliveries(receiver, LLM_DOWN)[0]
    assert delivery.body["receiver"] == "ragops-chat-incident"
    assert delivery.body["status"] == "firing"
    (p3_alert,) = delivery.body["alerts"]
    assert p3_alert["labels"] == held[LLM_DOWN]["labels"]
    assert p3_alert["annotations"]["runbook_url"] == url
    headers = {key.lower(): value for key, value in delivery.headers.items()}
    assert headers["authorization"] == f"Bearer {WEBHOOK_TOKEN}"

    # Recovery: the database is back, the next probe records it, the page resolves.
    allow_connections(database_url, True)
    wait_until(
        lambda: readiness(server)["dependencies"]["database"]["status"] != "down",
        timeout=RESOLVE_SECONDS,
        what="the database check to pass",
    )
    (resolved,) = wait_until(
        lambda: pagerduty_events(receiver, DATABASE_DOWN, "resolve"),
        timeout=RESOLVE_SECONDS,
        what="the PagerDuty resolve event",
        processes=processes,
    )
    assert resolved["dedup_key"] == event["dedup_key"]
    assert resolved["routing_key"] == ROUTING_KEY
    print(
        f"alerting e2e: stack up in {outage - started:.1f} s, notified "
        f"{fired - outage:.1f} s after the outage, resolved {time.monotonic() - fired:.1f} s later"
    )
