"""What docs/observability.md and docs/alerting.md say about the metrics and the alerts is what
the service exports and the rules hold: every metric of the table exists with the labels the
table names, every component that can run on a fallback is listed, and every alert is
described."""

from __future__ import annotations

import re

from prometheus_client import REGISTRY

import ragops.main  # noqa: F401  (imports the modules that register metrics)
import ragops.security.slow_clients  # noqa: F401  (the server protocol's, imported by `serve`)
from tests.ops.support import ROOT, alert_rules

OBSERVABILITY = ROOT / "docs" / "observability.md"
ALERTING = ROOT / "docs" / "alerting.md"
SOURCES = ROOT / "src" / "ragops"


def _metric_rows() -> dict[str, str]:
    """Metric name -> its labels cell, from the table of "Metrics: `GET /metrics`"."""
    section = OBSERVABILITY.read_text().split("## Metrics", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`ragops_"):
            continue
        names = re.findall(r"`([a-z_]+)`", cells[0])
        stem = names[0].rsplit("_", 1)[0]  # ragops_db_pool_size, `_checked_out`, ...
        for name in names:
            rows[stem + name if name.startswith("_") else name] = cells[2]
    return rows


def _exported() -> dict[str, set[str]]:
    """Name -> label names of every ragops metric registered in this process."""
    found: dict[str, set[str]] = {}
    for collector in list(REGISTRY._collector_to_names):  # noqa: SLF001 (label names live here)
        name = getattr(collector, "_name", "")
        if name.startswith("ragops_"):
            suffix = "_total" if getattr(collector, "_type", "") == "counter" else ""
            found[name + suffix] = set(getattr(collector, "_labelnames", ()))
    return found


def test_every_metric_of_the_table_is_exported_with_its_labels() -> None:
    rows = _metric_rows()
    assert len(rows) > 30, "the metrics table was not found"
    exported = _exported()
    for name, labels in rows.items():
        assert name in exported, f"{name} is documented but not exported"
        documented = set(re.findall(r"`([a-z_]+)`", labels))
        assert documented == exported[name], (
            f"{name}: documented {documented}, exported {exported[name]}"
        )


def _fallback_components() -> set[str]:
    """Every component the code switches to a fallback (`fallback_engaged`)."""
    used: set[str] = set()
    for path in SOURCES.rglob("*.py"):
        text = path.read_text()
        used.update(re.findall(r'^(?:FALLBACK_)?COMPONENT = "(\w+)"', text, re.M))
        used.update(re.findall(r'fallback_engaged\(\s*"(\w+)"', text))
    assert {"cache", "rate_limit", "embedder"} <= used, used
    return used


def test_every_fallback_component_is_documented() -> None:
    """`ragops_fallback_active{component}`: every component the code engages is listed."""
    used = _fallback_components()
    cell = _metric_rows()["ragops_fallback_active"]
    documented = set(re.findall(r"\w+", cell.split("(", 1)[1].split(")", 1)[0]))
    assert used <= documented, f"undocumented components: {used - documented}"


def test_alerting_doc_describes_every_alert() -> None:
    text = ALERTING.read_text()
    described = set(re.findall(r"\bRagops\w+", text))
    for names, suffix in re.findall(r"`Ragops\{([\w,]+)\}(\w+)`", text):
        described.update(f"Ragops{name}{suffix}" for name in names.split(","))
    missing = {rule["alert"] for rule in alert_rules()} - described
    assert not missing, f"docs/alerting.md does not describe {sorted(missing)}"


def test_the_redis_runbook_names_every_component_that_falls_back_on_redis() -> None:
    """Everything but the embedder (which falls back when the embedding API fails) runs on
    Redis: the RagopsRedisDown runbook says what each does while Redis is down."""
    runbook = (ROOT / "docs" / "runbooks" / "RagopsRedisDown.md").read_text()
    impact = runbook.split("## Impact", 1)[1].split("\n## ", 1)[0]
    missing = {c for c in _fallback_components() - {"embedder"} if f'"{c}"' not in impact}
    assert not missing, f"RagopsRedisDown.md's Impact does not name {sorted(missing)}"
