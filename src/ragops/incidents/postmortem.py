"""The postmortem of an incident as Markdown, from its stored timeline: a blameless template
with summary, impact, timeline, root cause and contributing factors to fill, and the stored
action items with owners and due dates.

Impact figures (error rate and p95 latency over the incident's window) come from Prometheus
when a URL is given, otherwise from the service's own request log in the database, which
every instance writes (`observability.request_log`); the section says which. With neither it
says they were not measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from ragops.db import Database
from ragops.incidents.models import IncidentDetail
from ragops.observability import request_log

TO_FILL = "_To fill in the review._"


@dataclass(frozen=True)
class WindowFigures:
    """Service figures over the incident's window."""

    error_rate: float | None
    p95_seconds: float | None
    source: str = ""


def _minutes(delta: timedelta) -> str:
    total = int(delta.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


async def prometheus_figures(
    base_url: str, start: datetime, end: datetime, *, timeout: float = 10.0
) -> WindowFigures:
    """Error rate and p95 of ragops over [start, end] asked of Prometheus (None when absent)."""
    seconds = max(int((end - start).total_seconds()), 60)
    window = f"{seconds}s"
    queries = {
        "error_rate": (
            f'sum(increase(ragops_http_requests_total{{status=~"5.."}}[{window}])) / '
            f"sum(increase(ragops_http_requests_total[{window}]))"
        ),
        "p95": (
            "histogram_quantile(0.95, sum by (le) "
            f"(increase(ragops_http_request_duration_seconds_bucket[{window}])))"
        ),
    }
    values: dict[str, float | None] = {}
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout) as client:
        for name, query in queries.items():
            response = await client.get(
                "/api/v1/query", params={"query": query, "time": end.timestamp()}
            )
            response.raise_for_status()
            result = response.json().get("data", {}).get("result", [])
            value = float(result[0]["value"][1]) if result else None
            values[name] = None if value is None or value != value else value  # NaN: no data
    return WindowFigures(
        error_rate=values["error_rate"],
        p95_seconds=values["p95"],
        source=f"Prometheus at {base_url}",
    )


async def recorded_figures(db: Database, start: datetime, end: datetime) -> WindowFigures | None:
    """Error rate and p95 over [start, end] from the service's own request log (every
    instance's rows), or None when no recorded request falls in the window."""
    found = await request_log.window(db, start, end)
    if found is None:
        return None
    instances = f"{found.instances} instance{'s' if found.instances != 1 else ''}"
    return WindowFigures(
        error_rate=found.error_rate,
        p95_seconds=found.p95_seconds,
        source=(
            f"the service's own request log ({found.requests} request"
            f"{'s' if found.requests != 1 else ''}, {found.errors} "
            f"answered 5xx, on {instances}; {_when(found.start)} to {_when(found.end)}, the "
            f"window widened to whole {request_log.SLOT_SECONDS} s slots; p95 interpolated "
            "within latency buckets)"
        ),
    )


def render(incident: IncidentDetail, *, figures: WindowFigures | None = None, now: datetime) -> str:
    """The postmortem document."""
    end = incident.resolved_at or now
    lines = [
        f"# Postmortem: incident {incident.id}: {incident.title}",
        "",
        "_Blameless: this review asks how the system and our processes let this happen and how"
        " to make it less likely, not who is to blame._",
        "",
        "| | |",
        "| --- | --- |",
        f"| Severity | {incident.severity} |",
        f"| Status | {incident.status} |",
        f"| Commander | {incident.commander or '-'} |",
        f"| Participants | {', '.join(incident.participants) or '-'} |",
        f"| Opened | {_when(incident.created_at)} |",
        f"| Acknowledged | {_when(incident.acknowledged_at)} |",
        f"| Mitigated | {_when(incident.mitigated_at)} |",
        f"| Resolved | {_when(incident.resolved_at)} |",
        "",
        "## Summary",
        "",
        incident.summary or TO_FILL,
        "",
        "## Impact",
        "",
        f"- Customer-facing: {'yes' if incident.customer_facing else 'no'}",
        f"- Duration: {_minutes(end - incident.created_at)}"
        + ("" if incident.resolved_at else " (not resolved yet)"),
    ]
    if incident.acknowledged_at:
        lines.append(
            f"- Time to acknowledge: {_minutes(incident.acknowledged_at - incident.created_at)}"
        )
    if figures is None:
        lines.append(
            "- Error rate and p95 latency: not measured (no Prometheus URL given, and the"
            " service's request log holds no request of the window)"
        )
    else:
        rate = f"{figures.error_rate:.2%}" if figures.error_rate is not None else "no data"
        p95 = f"{figures.p95_seconds:.2f} s" if figures.p95_seconds is not None else "no data"
        lines.append(f"- Error rate over the window: {rate}; p95 latency: {p95}")
        if figures.source:
            lines.append(f"  (source: {figures.source})")
    lines += ["", incident.impact or TO_FILL, "", "## Timeline (UTC)", ""]
    lines += ["| Time | Actor | Event | Details |", "| --- | --- | --- | --- |"]
    for event in incident.timeline:
        lines.append(
            f"| {_when(event.at)} | {_cell(event.actor)} | {event.kind} | {_cell(event.message)} |"
        )
    if incident.alerts:
        lines += ["", "## Alerts", ""]
        for alert in incident.alerts:
            ended = f", resolved {_when(alert.ends_at)}" if alert.ends_at else ""
            runbook = alert.annotations.get("runbook_url")
            lines.append(
                f"- {alert.alertname} ({alert.labels.get('severity', '-')}): fired "
                f"{_when(alert.starts_at)}{ended}" + (f"; runbook: {runbook}" if runbook else "")
            )
    lines += [
        "",
        "## Root cause",
        "",
        TO_FILL,
        "",
        "## Contributing factors",
        "",
        TO_FILL,
        "",
        "## What went well, what went poorly, where we were lucky",
        "",
        TO_FILL,
        "",
        "## Action items",
        "",
    ]
    if incident.action_items:
        lines += ["| # | Action | Owner | Due | Done |", "| --- | --- | --- | --- | --- |"]
        for item in incident.action_items:
            due = item.due.isoformat() if item.due else "-"
            lines.append(
                f"| {item.id} | {_cell(item.description)} | {_cell(item.owner)} | {due} | "
                f"{'yes' if item.done else 'no'} |"
            )
    else:
        lines.append(
            f'_None stored yet: `ragops incident action add {incident.id} "..." --owner NAME'
            " --due YYYY-MM-DD`._"
        )
    return "\n".join(lines) + "\n"
