"""The audit's outputs: `report.json`, `report.md`, the console table, and the verdict.

The verdict fails when any finding (found or not audited) is at or above `fail_on`. The
files are rewritten on each run; the JSON is for machines (CI, the GO / NO-GO report), the
Markdown for the security lead's sign-off.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ragops.audit.findings import CheckResult, Finding, Severity, Status

_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
}


@dataclass(frozen=True)
class Verdict:
    """Whether the audit passes at `fail_on`, and the findings that made it fail."""

    fail_on: Severity
    blocking: list[Finding]

    @property
    def passed(self) -> bool:
        """True when no finding reaches `fail_on`."""
        return not self.blocking


def ordered(findings: list[Finding]) -> list[Finding]:
    """Findings worst first, then by check, location and title."""
    return sorted(findings, key=lambda f: (-f.severity.rank, f.check, f.location, f.title))


def decide(results: list[CheckResult], fail_on: Severity) -> Verdict:
    """The verdict over every finding of every check."""
    every = [f for r in results for f in r.findings]
    return Verdict(fail_on, ordered([f for f in every if f.severity.rank >= fail_on.rank]))


def _counts(findings: list[Finding]) -> dict[str, int]:
    counts = {s.value: sum(f.severity is s for f in findings) for s in Severity}
    counts["not_audited"] = sum(f.status is Status.NOT_AUDITED for f in findings)
    return counts


def _relative(path: str, base: Path) -> str:
    try:
        return Path(path).resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return Path(path).name


def report_data(
    results: list[CheckResult], verdict: Verdict, not_audited: Severity, output_dir: Path
) -> dict[str, Any]:
    """The JSON report as a dict."""
    findings = ordered([f for r in results for f in r.findings])
    return {
        "tool": "ragops audit",
        "generated_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "checks": [r.check for r in results],
        "fail_on": verdict.fail_on.value,
        "not_audited_severity": not_audited.value,
        "passed": verdict.passed,
        "counts": _counts(findings),
        "results": [
            {
                "check": r.check,
                "summary": r.summary,
                "findings": len(r.findings),
                "artifacts": [_relative(a, output_dir) for a in r.artifacts],
            }
            for r in results
        ],
        "findings": [f.as_dict() for f in findings],
    }


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(data: dict[str, Any]) -> str:
    """The Markdown report from the JSON report's data."""
    state = "PASS" if data["passed"] else "FAIL"
    lines = [
        "# Security audit report",
        "",
        f"- Generated: {data['generated_at']}",
        f"- Checks: {', '.join(data['checks'])}",
        f"- Verdict: **{state}** (fails on `{data['fail_on']}` or worse; "
        f"not audited counts as `{data['not_audited_severity']}`)",
        "- Counts: " + ", ".join(f"{k} {v}" for k, v in data["counts"].items()),
        "",
        "## Checks",
        "",
        "| Check | Findings | What was examined | Files |",
        "|---|---|---|---|",
    ]
    for r in data["results"]:
        files = ", ".join(f"`{a}`" for a in r["artifacts"]) or "-"
        lines.append(f"| {r['check']} | {r['findings']} | {_cell(r['summary'])} | {files} |")
    lines += ["", "## Findings", ""]
    if not data["findings"]:
        lines.append("No findings.")
    else:
        lines += [
            "| Severity | Status | Check | Title | Location | Id |",
            "|---|---|---|---|---|---|",
        ]
        for f in data["findings"]:
            lines.append(
                f"| {f['severity']} | {f['status']} | {f['check']} | {_cell(f['title'])} "
                f"| `{_cell(f['location'])}` | {f['id']} |"
            )
        lines += ["", "## Details", ""]
        for f in data["findings"]:
            lines += [f"### {f['id']}: {f['title']}", "", _cell(f["detail"]), ""]
    return "\n".join(lines).rstrip() + "\n"


def write_reports(
    results: list[CheckResult], verdict: Verdict, not_audited: Severity, output_dir: Path
) -> tuple[Path, Path]:
    """Write `report.json` and `report.md` into `output_dir`; return their paths."""
    output_dir.mkdir(parents=True, exist_ok=True)
    data = report_data(results, verdict, not_audited, output_dir)
    json_path, md_path = output_dir / "report.json", output_dir / "report.md"
    json_path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(render_markdown(data), encoding="utf-8")
    return json_path, md_path


def print_summary(console: Console, results: list[CheckResult], verdict: Verdict) -> None:
    """The findings table, one line per check, and the verdict."""
    findings = ordered([f for r in results for f in r.findings])
    if findings:
        table = Table(title="Security audit findings", show_lines=False)
        for column in ("Severity", "Status", "Check", "Title", "Location"):
            table.add_column(column, overflow="fold")
        for f in findings:
            status = "NOT AUDITED" if f.status is Status.NOT_AUDITED else "finding"
            table.add_row(
                Text(f.severity.value, style=_STYLE[f.severity]),
                status,
                f.check,
                Text(f.title),
                Text(f.location),
            )
        console.print(table)
    for r in results:
        console.print(f"[bold]{r.check}[/]: {escape(r.summary)} ({len(r.findings)} findings)")
    if verdict.passed:
        console.print(f"[bold green]PASS[/]: no finding at or above {verdict.fail_on.value}")
    else:
        console.print(
            f"[bold red]FAIL[/]: {len(verdict.blocking)} findings at or above "
            f"{verdict.fail_on.value}"
        )
