"""Every alert: severity and service labels, summary/description/runbook, a runbook page, tests."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from tests.ops.support import ROOT, RULE_TESTS, RUNBOOK_URL, RUNBOOKS, alert_rules

SEVERITIES = {"P1", "P2", "P3", "P4"}
HEADINGS = ["Meaning", "Impact", "Diagnosis", "Mitigation", "Escalation"]


def test_alert_names_are_unique() -> None:
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"Ragops[A-Z][A-Za-z0-9]+", name) for name in names), names


def test_every_alert_has_labels_and_annotations() -> None:
    for rule in alert_rules():
        name = rule["alert"]
        labels, annotations = rule.get("labels", {}), rule.get("annotations", {})
        assert labels.get("severity") in SEVERITIES, name
        assert labels.get("service") == "ragops", name
        assert annotations.get("summary", "").strip(), name
        assert annotations.get("description", "").strip(), name
        assert annotations.get("runbook_url") == RUNBOOK_URL.format(alert=name), name


def test_every_alert_has_a_runbook_with_the_required_sections() -> None:
    for rule in alert_rules():
        page = RUNBOOKS / f"{rule['alert']}.md"
        assert page.is_file(), f"missing {page.relative_to(RUNBOOKS.parents[1])}"
        headings = re.findall(r"^##\s+(.+?)\s*$", page.read_text(), flags=re.M)
        for heading in HEADINGS:
            assert heading in headings, f"{page.name} lacks a '## {heading}' section"


def test_runbook_index_lists_every_alert() -> None:
    index = (RUNBOOKS / "README.md").read_text()
    for rule in alert_rules():
        assert f"({rule['alert']}.md)" in index, f"README.md does not link {rule['alert']}.md"
    pages = {page.stem for page in RUNBOOKS.glob("*.md")} - {"README"}
    procedures = {page for page in pages if not page.startswith("Ragops")}  # no alert of theirs
    for page in procedures:
        assert f"({page}.md)" in index, f"README.md does not link the procedure {page}.md"
    alerts = {rule["alert"] for rule in alert_rules()}
    assert pages - procedures == alerts, "runbook without an alert"


def test_runbooks_show_the_readiness_body_when_not_ready() -> None:
    """/readyz answers 503 with each dependency's status when a check fails: `curl -f` would
    print only "error: 503" at the moment the on-call needs the body. Its statuses are the
    ones ops.readiness gives."""
    from ragops.ops.readiness import Status

    for page in sorted(RUNBOOKS.glob("*.md")):
        for line in page.read_text().splitlines():
            if "$RAGOPS_URL/readyz" in line and "| jq" in line:
                assert not re.search(r"curl\s+-\w*f", line), f"{page.name}: {line.strip()}"
                words = set(re.findall(r"\b(ok|degraded|down|failed)\b", line.split("#")[-1]))
                assert words <= set(Status.__args__), f"{page.name}: {line.strip()}"


def test_the_db_pool_runbooks_name_a_panel_of_the_dashboard_and_the_console() -> None:
    """The pool runbooks send the on-call to *Database pool* on the Grafana dashboard or the
    /ops console: both show it under that name (the console's tile said "DB pool")."""
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "ragops.json").read_text())
    titles = {panel.get("title") for panel in dashboard["panels"]}
    console = (ROOT / "src" / "ragops" / "web" / "static" / "ops.html").read_text()
    labels = {label.split(":")[0] for label in re.findall(r'class="label">([^<]+)<', console)}
    for alert in ("RagopsDBPoolNearExhaustion", "RagopsDBPoolWaiters"):
        diagnosis = (RUNBOOKS / f"{alert}.md").read_text().split("## Diagnosis", 1)[1]
        assert "`$RAGOPS_URL/ops`: *Database pool*" in diagnosis.replace("\n   ", " "), alert
    assert "Database pool" in titles and "Database pool" in labels, sorted(labels)


def _test_cases() -> list[dict[str, Any]]:
    cases = []
    for path in sorted(RULE_TESTS.glob("*.yml")):
        for test in yaml.safe_load(path.read_text())["tests"]:
            cases.extend(test.get("alert_rule_test", []))
    return cases


def test_every_alert_has_a_firing_and_a_silent_promtool_case() -> None:
    fires = {case["alertname"] for case in _test_cases() if case.get("exp_alerts")}
    silent = {case["alertname"] for case in _test_cases() if not case.get("exp_alerts")}
    for rule in alert_rules():
        assert rule["alert"] in fires, f"no promtool case where {rule['alert']} fires"
        assert rule["alert"] in silent, f"no promtool case where {rule['alert']} stays silent"
