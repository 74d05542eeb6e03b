"""Helpers of the ops tests: the tools, the alert and recording rules, metric names in PromQL."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import REGISTRY

import ragops.observability.metrics  # noqa: F401  (registers every ragops metric)

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "scripts" / "install-ops-tools.sh"
RULES = ROOT / "deploy" / "prometheus" / "rules"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "tests"
RUNBOOKS = ROOT / "docs" / "runbooks"
RUNBOOK_URL = "https://github.com/ragops/ragops/blob/main/docs/runbooks/{alert}.md"


@dataclass(frozen=True)
class OpsTools:
    """Paths of promtool and amtool."""

    promtool: str
    amtool: str


# PromQL words that look like metric names but are not.
_KEYWORDS = {
    "and", "or", "unless", "bool", "by", "without", "on", "ignoring", "group_left",
    "group_right", "offset", "inf", "nan", "atan2",
}  # fmt: skip
# Series every Prometheus has, besides what ragops exports.
STANDARD = {"up"}
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
}


def rule_groups(name: str) -> list[dict[str, Any]]:
    data: dict[str, Any] = yaml.safe_load((RULES / name).read_text())
    return list(data["groups"])


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in rule_groups("ragops-alerts.yml") for rule in group["rules"]]


def recording_rules() -> list[dict[str, Any]]:
    return [rule for group in rule_groups("ragops-recording.yml") for rule in group["rules"]]


def recorded_names() -> set[str]:
    return {rule["record"] for rule in recording_rules()}


def exported_names() -> set[str]:
    """Every series name the ragops registry can expose (with type suffixes)."""
    names: set[str] = set()
    for family in REGISTRY.collect():
        if family.name.startswith("ragops_"):
            names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return names


def known_names() -> set[str]:
    return exported_names() | recorded_names() | STANDARD


def is_known(name: str) -> bool:
    return name in known_names() or name.startswith("process_")


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (a lexical scan, enough for our rules)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\boffset\s+-?\w+", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group(0)
        if word.lower() in _KEYWORDS or text[match.end() :].lstrip().startswith("("):
            continue
        names.add(word)
    return names


def run_tool(
    *args: str, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run an ops tool (promtool, amtool): its output as text, its exit code not checked."""
    return subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False
    )
