"""`ragops audit deps`: the locked dependencies against a vulnerability service, and an SBOM.

pip-audit runs in `--strict` mode on `requirements.lock`. Without `--strict`, pip-audit skips
every package it cannot look up and still prints "No known vulnerabilities found" when its
service is out of reach; here a failed run, a run that ended at the time limit, and any
skipped package all become `not_audited` findings that name the reason. A CycloneDX SBOM of
the same lock goes into the output folder, so the audit can be finished on a machine that can
reach a vulnerability service (`pip-audit`, `osv-scanner`, Dependency-Track...).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ragops.audit.findings import AuditError, CheckResult, Finding, Severity
from ragops.audit.tools import ToolRun, run_tool

CHECK = "deps"
SBOM_NAME = "sbom.cdx.json"


def pip_audit_args(
    lock: Path,
    *,
    service: str = "pypi",
    osv_url: str | None = None,
    socket_timeout: float = 15.0,
) -> list[str]:
    """The pip-audit arguments for `lock`: strict, JSON, and no pip when the lock is pinned."""
    text = lock.read_text(encoding="utf-8")
    # A hashed lock can be audited without pip resolving anything; an unhashed one needs
    # --no-deps for that (pip-audit then requires every line to be pinned with ==).
    pinning = ["--require-hashes"] if "--hash=" in text else ["--no-deps"]
    args = [
        "-r",
        str(lock),
        "--strict",
        *pinning,
        "--disable-pip",
        "--format",
        "json",
        "--progress-spinner",
        "off",
        "--timeout",
        str(int(max(1, socket_timeout))),
        "--vulnerability-service",
        service,
    ]
    if osv_url:
        args += ["--osv-url", osv_url]
    return args


def audit_deps(
    lock: Path,
    output_dir: Path,
    *,
    service: str = "pypi",
    osv_url: str | None = None,
    timeout: float = 600.0,
    socket_timeout: float = 15.0,
    sbom: bool = True,
    env: dict[str, str] | None = None,
) -> CheckResult:
    """Audit `lock` with pip-audit; write its raw output and the SBOM into `output_dir`."""
    if not lock.is_file():
        raise AuditError(f"lock file {lock} does not exist")
    output_dir.mkdir(parents=True, exist_ok=True)
    args = pip_audit_args(lock, service=service, osv_url=osv_url, socket_timeout=socket_timeout)
    run = run_tool("pip_audit", args, timeout=timeout, env=env)
    result = interpret_pip_audit(run, lock, service=service, timeout=timeout)
    has_json = bool(run.stdout.strip())
    raw, stale = output_dir / "pip-audit.json", output_dir / "pip-audit.stderr.txt"
    if not has_json:
        raw, stale = stale, raw
    stale.unlink(missing_ok=True)
    raw.write_text(run.stdout if has_json else run.stderr, encoding="utf-8")
    result.artifacts.append(str(raw))
    if sbom:
        sbom_finding = write_sbom(lock, output_dir / SBOM_NAME, timeout=timeout, env=env)
        if sbom_finding is None:
            result.artifacts.append(str(output_dir / SBOM_NAME))
        else:
            result.findings.append(sbom_finding)
    return result


def interpret_pip_audit(run: ToolRun, lock: Path, *, service: str, timeout: float) -> CheckResult:
    """Turn one pip-audit run into findings; anything short of a full audit is not audited."""
    location = str(lock)
    if run.timed_out:
        reason = f"pip-audit did not finish within {timeout:.0f} s (service {service})."
        return CheckResult(
            CHECK,
            "dependencies NOT audited: pip-audit timed out",
            [Finding.not_audited(CHECK, "Dependencies not audited", reason, location)],
        )
    report = _json_or_none(run.stdout)
    if report is None:
        reason = (
            f"pip-audit --strict stopped (exit {run.returncode}, service {service}); "
            f"the vulnerability service was not reachable or refused a package: "
            f"{run.stderr_tail(2) or 'no message'}"
        )
        return CheckResult(
            CHECK,
            "dependencies NOT audited: pip-audit could not complete",
            [Finding.not_audited(CHECK, "Dependencies not audited", reason, location)],
        )
    return _from_report(report, location, service)


def _from_report(report: dict[str, Any], location: str, service: str) -> CheckResult:
    deps: list[dict[str, Any]] = list(report.get("dependencies", []))
    skipped = [d for d in deps if d.get("skip_reason")]
    audited = [d for d in deps if not d.get("skip_reason")]
    findings: list[Finding] = []
    if skipped or not audited:
        reasons = "; ".join(str(d["skip_reason"]) for d in skipped[:3]) or "no package audited"
        reason = (
            f"{len(skipped)} of {len(deps)} packages were skipped by pip-audit "
            f"(service {service}); an audit that skips a package says nothing about it. "
            f"First reasons: {reasons}"
        )
        findings.append(Finding.not_audited(CHECK, "Dependencies not audited", reason, location))
    for dep in audited:
        for vuln in dep.get("vulns", []):
            findings.append(_vulnerability(dep, vuln, location))
    vulns = sum(len(d.get("vulns", [])) for d in audited)
    summary = (
        f"pip-audit ({service}) audited {len(audited)} of {len(deps)} locked packages; "
        f"{vulns} known vulnerabilities"
    )
    if skipped or not audited:
        summary = "dependencies NOT fully audited: " + summary
    return CheckResult(CHECK, summary, findings)


def _vulnerability(dep: dict[str, Any], vuln: dict[str, Any], location: str) -> Finding:
    name, version = str(dep.get("name", "?")), str(dep.get("version", "?"))
    vuln_id = str(vuln.get("id", "?"))
    aliases = ", ".join(str(a) for a in vuln.get("aliases", []))
    fixes = ", ".join(str(v) for v in vuln.get("fix_versions", [])) or "none published"
    detail = (
        f"{name} {version} is affected by {vuln_id}"
        + (f" ({aliases})" if aliases else "")
        + f". Fixed in: {fixes}. {str(vuln.get('description', '')).strip()}"
    )
    return Finding.make(
        CHECK,
        Severity.HIGH,
        f"{name} {version}: {vuln_id}",
        detail.strip(),
        f"{location} ({name}=={version})",
    )


def write_sbom(
    lock: Path, target: Path, *, timeout: float, env: dict[str, str] | None = None
) -> Finding | None:
    """Write a CycloneDX JSON SBOM of `lock` to `target`; a finding if that failed."""
    args = [
        "requirements",
        str(lock),
        "--output-format",
        "JSON",
        "--output-file",
        str(target),
        "--output-reproducible",
        "--no-validate",
    ]
    pyproject = lock.parent / "pyproject.toml"
    if pyproject.is_file():
        args += ["--pyproject", str(pyproject)]
    run = run_tool("cyclonedx_py", args, timeout=timeout, env=env)
    if run.returncode == 0 and not run.timed_out and target.is_file():
        return None
    why = "timed out" if run.timed_out else f"exit {run.returncode}: {run.stderr_tail(2)}"
    return Finding.make(
        CHECK,
        Severity.MEDIUM,
        "SBOM not produced",
        f"cyclonedx-py could not write the SBOM ({why}); the audit cannot be "
        "completed elsewhere without it.",
        str(lock),
    )


def _json_or_none(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) and "dependencies" in value else None
