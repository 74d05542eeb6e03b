"""`ragops audit deps`: an unreachable vulnerability service is "not audited", never a pass."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from typer.testing import CliRunner

from ragops.audit.cli import audit_app
from ragops.audit.deps import interpret_pip_audit, pip_audit_args
from ragops.audit.findings import Severity, Status
from ragops.audit.tools import ToolRun

runner = CliRunner()


def _lock(tmp_path: Path, *, hashed: bool = True) -> Path:
    lock = tmp_path / "requirements.lock"
    digest = hashlib.sha256(b"idna-3.7").hexdigest()
    line = f"idna==3.7 \\\n    --hash=sha256:{digest}\n" if hashed else "idna==3.7\n"
    lock.write_text(line, encoding="utf-8")
    return lock


def test_unreachable_service_is_not_audited(tmp_path: Path, closed_port: int) -> None:
    lock, out = _lock(tmp_path), tmp_path / "out"
    args = [
        "deps",
        "--lock", str(lock),
        "--service", "osv",
        "--osv-url", f"http://127.0.0.1:{closed_port}/v1/query",
        "--deps-timeout", "120",
        "--socket-timeout", "5",
        "--output-dir", str(out),
    ]  # fmt: skip
    result = runner.invoke(audit_app, args)
    assert result.exit_code == 1, result.output
    assert "NOT AUDITED" in result.output
    report = json.loads((out / "report.json").read_text())
    [finding] = report["findings"]
    assert finding["status"] == "not_audited"
    assert finding["severity"] == "high"
    assert "refused" in finding["detail"].lower()
    assert report["counts"]["not_audited"] == 1 and not report["passed"]
    # The SBOM still lets someone finish the audit where the service can be reached.
    sbom = json.loads((out / "sbom.cdx.json").read_text())
    assert [c["name"] for c in sbom["components"]] == ["idna"]


def _run(stdout: str, returncode: int = 0) -> ToolRun:
    return ToolRun(["pip-audit"], returncode, stdout, "")


def test_skipped_packages_are_not_audited(tmp_path: Path) -> None:
    # What pip-audit prints without --strict when its service answers 404 to every package:
    # every package skipped, exit 0, and "No known vulnerabilities found" on stderr.
    measured = {
        "dependencies": [
            {
                "name": "idna",
                "skip_reason": "Dependency not found on PyPI and could not be audited: idna (3.7)",
            }
        ],
        "fixes": [],
    }
    result = interpret_pip_audit(
        _run(json.dumps(measured)), tmp_path / "lock", service="pypi", timeout=60
    )
    [finding] = result.findings
    assert finding.status is Status.NOT_AUDITED
    assert "1 of 1 packages were skipped" in finding.detail


def test_timeout_is_not_audited(tmp_path: Path) -> None:
    run = ToolRun(["pip-audit"], -1, "", "", timed_out=True)
    result = interpret_pip_audit(run, tmp_path / "lock", service="pypi", timeout=5)
    assert [f.status for f in result.findings] == [Status.NOT_AUDITED]
    assert "did not finish within 5 s" in result.findings[0].detail


def test_known_vulnerability_is_a_high_finding(tmp_path: Path) -> None:
    vuln = {"id": "PYSEC-0000-1", "fix_versions": ["3.8"], "aliases": ["CVE-0000-1"]}
    report = {"dependencies": [{"name": "idna", "version": "3.7", "vulns": [vuln]}]}
    result = interpret_pip_audit(
        _run(json.dumps(report), 1), tmp_path / "lock", service="pypi", timeout=60
    )
    [finding] = result.findings
    assert finding.status is Status.FINDING and finding.severity is Severity.HIGH
    assert "PYSEC-0000-1" in finding.title and "3.8" in finding.detail


def test_clean_audit_has_no_findings(tmp_path: Path) -> None:
    report = {"dependencies": [{"name": "idna", "version": "3.7", "vulns": []}]}
    result = interpret_pip_audit(_run(json.dumps(report)), tmp_path, service="pypi", timeout=60)
    assert result.findings == []
    assert "audited 1 of 1" in result.summary


def test_pip_audit_is_strict_and_pipless(tmp_path: Path) -> None:
    hashed = pip_audit_args(_lock(tmp_path))
    assert {"--strict", "--require-hashes", "--disable-pip"} <= set(hashed)
    assert "--no-deps" not in hashed
    (tmp_path / "plain").mkdir()
    plain = pip_audit_args(_lock(tmp_path / "plain", hashed=False))
    assert {"--strict", "--no-deps", "--disable-pip"} <= set(plain)


def test_missing_lock_is_an_error(tmp_path: Path) -> None:
    result = runner.invoke(
        audit_app, ["deps", "--lock", str(tmp_path / "nope"), "-o", str(tmp_path)]
    )
    assert result.exit_code == 2, result.output
