"""`ragops audit code`: bandit over the source tree, its JSON turned into findings.

Bandit's severity maps one to one (LOW, MEDIUM, HIGH -> low, medium, high); its confidence
goes into the detail. A file bandit could not parse is `not_audited`, not silently skipped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ragops.audit.findings import AuditError, CheckResult, Finding, Severity
from ragops.audit.tools import run_tool

CHECK = "code"

_SEVERITY = {"LOW": Severity.LOW, "MEDIUM": Severity.MEDIUM, "HIGH": Severity.HIGH}


def audit_code(src: Path, output_dir: Path, *, timeout: float = 300.0) -> CheckResult:
    """Run bandit over `src`, keep its raw JSON in `output_dir`, return its findings."""
    if not src.is_dir():
        raise AuditError(f"source path {src} does not exist or is not a folder")
    if not any(src.rglob("*.py")):
        raise AuditError(f"source path {src} holds no Python files")
    run = run_tool("bandit", ["-r", str(src), "-f", "json", "-q"], timeout=timeout)
    if run.timed_out:
        raise AuditError(f"bandit did not finish within {timeout:.0f} s")
    try:
        report: dict[str, Any] = json.loads(run.stdout)
    except json.JSONDecodeError as exc:
        raise AuditError(
            f"bandit gave no JSON (exit {run.returncode}): {run.stderr_tail()}"
        ) from exc
    output_dir.mkdir(parents=True, exist_ok=True)
    raw = output_dir / "bandit.json"
    raw.write_text(run.stdout, encoding="utf-8")
    findings = [_finding(item) for item in report.get("results", [])]
    findings += [
        Finding.not_audited(
            CHECK,
            "File not analysed by bandit",
            str(error.get("reason", "unknown reason")),
            str(error.get("filename", src)),
        )
        for error in report.get("errors", [])
    ]
    return CheckResult(CHECK, _summary(report, src), findings, [str(raw)])


def _finding(item: dict[str, Any]) -> Finding:
    test_id = str(item.get("test_id", "B???"))
    location = f"{item.get('filename', '?')}:{item.get('line_number', 0)}"
    cwe = item.get("issue_cwe") or {}
    detail = (
        f"{item.get('issue_text', '')} (bandit {test_id} {item.get('test_name', '')}, "
        f"confidence {str(item.get('issue_confidence', '?')).lower()}"
        + (f", CWE-{cwe['id']}" if cwe.get("id") else "")
        + f"). {item.get('more_info', '')}"
    )
    return Finding.make(
        CHECK,
        _SEVERITY.get(str(item.get("issue_severity", "")).upper(), Severity.MEDIUM),
        f"{test_id}: {item.get('test_name', 'bandit issue')}",
        detail.strip(),
        location,
        key=str(item.get("code", "")),
    )


def _summary(report: dict[str, Any], src: Path) -> str:
    metrics: dict[str, Any] = report.get("metrics", {})
    totals: dict[str, Any] = metrics.get("_totals", {})
    files = len([name for name in metrics if name != "_totals"])
    suppressed = int(totals.get("nosec", 0)) + int(totals.get("skipped_tests", 0))
    return (
        f"bandit scanned {files} files ({totals.get('loc', 0)} lines) under {src}; "
        f"nosec markers suppressed {suppressed} results (see them with bandit --ignore-nosec)"
    )
