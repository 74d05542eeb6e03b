"""The Prometheus rules: promtool checks and unit tests pass, every metric they use exists."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.ops.support import (
    RULE_TESTS,
    RULES,
    OpsTools,
    alert_rules,
    is_known,
    metric_names,
    recording_rules,
    run_tool,
)


def test_promtool_check_rules_passes(ops_tools: OpsTools) -> None:
    files = sorted(str(path) for path in RULES.glob("*.yml"))
    assert len(files) == 2
    result = run_tool(ops_tools.promtool, "check", "rules", *files)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert output.count("SUCCESS") == len(files), output
    assert "WARNING" not in output.upper(), output


def test_promtool_unit_tests_pass(ops_tools: OpsTools) -> None:
    """Every test file passes; the files run side by side to keep the wall time short."""
    files = sorted(RULE_TESTS.glob("*.yml"))
    assert files, "no promtool test files under deploy/prometheus/tests"
    running = {
        path.name: subprocess.Popen(
            [ops_tools.promtool, "test", "rules", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for path in files
    }
    failures = []
    for name, process in running.items():
        output, _ = process.communicate(timeout=300)
        if process.returncode != 0 or "SUCCESS" not in output:
            failures.append(f"{name}:\n{output}")
    assert not failures, "\n".join(failures)


def test_example_prometheus_config_is_valid(ops_tools: OpsTools, tmp_path: Path) -> None:
    """promtool check config, with the bearer-token file it insists on created in a copy."""
    source = RULES.parent / "prometheus.yml"
    token = tmp_path / "ragops-metrics-token"
    token.write_text("test-token\n")
    text = source.read_text()
    assert "/etc/prometheus/secrets/ragops-metrics-token" in text
    (tmp_path / "prometheus.yml").write_text(
        text.replace("/etc/prometheus/secrets/ragops-metrics-token", str(token))
    )
    shutil.copytree(RULES, tmp_path / "rules")
    result = run_tool(ops_tools.promtool, "check", "config", str(tmp_path / "prometheus.yml"))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "2 rule files found" in output or output.count("SUCCESS") >= 3, output


def test_rules_only_use_metrics_ragops_exports() -> None:
    for rule in recording_rules() + alert_rules():
        unknown = {name for name in metric_names(rule["expr"]) if not is_known(name)}
        assert not unknown, f"{rule.get('record') or rule.get('alert')} uses unknown {unknown}"


def test_request_ratios_leave_out_drain_refusals() -> None:
    """Every selector of API requests (operations endpoints left out) also leaves out the 503s
    of a draining instance (`route="drain"`): the balancer retries them elsewhere, where the
    request's real outcome is recorded. Load shedding (`route="shed"`) stays in."""
    checked = 0
    for rule in recording_rules() + alert_rules():
        for selector in re.findall(r"ragops_http_request\w*\{([^}]*)\}", rule["expr"]):
            if "/healthz" in selector:
                checked += 1
                name = rule.get("record") or rule.get("alert")
                assert 'route!="drain"' in selector, name
                assert "shed" not in selector, name
    assert checked >= 30


def test_every_alert_has_an_explicit_for() -> None:
    """A later end-to-end test loads a copy with short durations: every alert must have one."""
    for rule in alert_rules():
        assert "for" in rule, rule["alert"]
