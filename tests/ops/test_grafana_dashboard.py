"""The Grafana dashboard: importable JSON, every query parses, every metric exists."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops.support import ROOT, OpsTools, is_known, metric_names, recording_rules, run_tool

DASHBOARD = ROOT / "deploy" / "grafana" / "ragops.json"
# Values for Grafana's variables, so the queries become plain PromQL.
ANSWER_CACHE_RATIO = "job:ragops_answer_cache_hit:ratio_rate1h"
GRAFANA_VARIABLES = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def panels() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for panel in dashboard()["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def queries() -> list[tuple[str, str]]:
    """(panel title + refId, expression) of every panel target."""
    return [
        (f"{panel['title']} [{target['refId']}]", target["expr"])
        for panel in panels()
        for target in panel.get("targets", [])
    ]


def plain_promql(expr: str) -> str:
    names = {var["name"] for var in dashboard()["templating"]["list"]}

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name in GRAFANA_VARIABLES:
            return GRAFANA_VARIABLES[name]
        assert name in names, f"unknown dashboard variable ${name}"
        return "ragops"

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", value, expr)


def test_dashboard_is_importable_with_a_templated_datasource() -> None:
    data = dashboard()
    assert [item["name"] for item in data["__inputs"]] == ["DS_PROMETHEUS"]
    assert data["uid"] and data["title"]
    ids = [panel["id"] for panel in panels()]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels():
        assert {"x", "y", "w", "h"} <= panel["gridPos"].keys(), panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert panel["targets"], f"panel {panel['title']} has no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]


def test_every_panel_query_parses(ops_tools: OpsTools, tmp_path: Path) -> None:
    """promtool check rules on a rule file whose records are the panel expressions."""
    rules = [
        {"record": f"dashboard:panel_{index}", "expr": plain_promql(expr)}
        for index, (_, expr) in enumerate(queries())
    ]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run_tool(ops_tools.promtool, "check", "rules", str(path), timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


@pytest.mark.parametrize(("where", "expr"), queries())
def test_every_metric_in_a_query_is_exported_or_recorded(where: str, expr: str) -> None:
    unknown = {name for name in metric_names(plain_promql(expr)) if not is_known(name)}
    assert not unknown, f"{where} uses {unknown}, which ragops neither exports nor records"


def test_dashboard_covers_the_service() -> None:
    used = set().union(*(metric_names(plain_promql(expr)) for _, expr in queries()))
    wanted = {
        "ragops_http_requests_total",
        "ragops_http_request_duration_seconds_bucket",
        "ragops_rag_stage_duration_seconds_bucket",
        "ragops_cache_lookups_total",
        "ragops_db_pool_checked_out",
        "ragops_db_pool_waiters",
        "ragops_dependency_up",
        "ragops_llm_tokens_total",
        "ragops_llm_time_to_first_token_seconds_bucket",
        "ragops_answers_total",
        "job:ragops_http_request_errors:ratio_rate1h",
        "job:ragops_http_request_slow:ratio_rate1h",
    }
    assert wanted <= used, f"the dashboard does not show {wanted - used}"


def test_the_cache_hit_stat_shows_what_the_cache_alert_reads(
    ops_tools: OpsTools, tmp_path: Path
) -> None:
    """*Cache hit rate (1h)* (target 70 %) is the share of questions answered from the answer
    cache, the figure RagopsCacheHitRateLow and the /ops console use: exact and semantic hits
    over questions (exact lookups). It summed every lookup, the semantic lookups after an
    exact miss and the in-process embedding memo included. promtool evaluates the panel's
    query and the recording rule on the same series."""
    (expr,) = [e for title, e in queries() if title.startswith("Cache hit rate (1h)")]
    recorded = [r for r in recording_rules() if r["record"] == ANSWER_CACHE_RATIO]
    panel = {"record": "dashboard:cache_hit_stat", "expr": plain_promql(expr)}
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [*recorded, panel]}]}))
    labels = 'job="ragops", instance="ragops"'  # what plain_promql gives $job and $instance
    per_minute = {  # per question: one exact lookup, a semantic one after a miss, embeddings
        ("exact", "hit"): 1,
        ("exact", "miss"): 3,
        ("semantic", "hit"): 1,
        ("semantic", "miss"): 2,
        ("embedding", "hit"): 3,
        ("embedding", "miss"): 3,
    }
    series = [
        {
            "series": f'ragops_cache_lookups_total{{{labels}, cache="{cache}", result="{result}"}}',
            "values": f"0+{step}x120",
        }
        for (cache, result), step in per_minute.items()
    ]
    case = {
        "interval": "1m",
        "input_series": series,
        "promql_expr_test": [
            {"expr": ANSWER_CACHE_RATIO, "eval_time": "90m",
             "exp_samples": [{"labels": f'{ANSWER_CACHE_RATIO}{{job="ragops"}}', "value": 0.5}]},
            {"expr": "dashboard:cache_hit_stat", "eval_time": "90m",
             "exp_samples": [{"labels": "dashboard:cache_hit_stat", "value": 0.5}]},
        ],
    }  # fmt: skip
    test_file = tmp_path / "test.yml"
    test_file.write_text(yaml.safe_dump({"rule_files": [str(rules)], "tests": [case]}))
    result = run_tool(ops_tools.promtool, "test", "rules", str(test_file), timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
