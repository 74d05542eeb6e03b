"""`ragops audit` as a whole: the bare command runs every check, reports, and exit codes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragops.audit.cli import audit_app
from ragops.audit.findings import CheckResult, Finding, Severity, Status
from ragops.audit.owasp import REQUIRED_ITEMS
from ragops.audit.report import decide, render_markdown, report_data
from tests.audit.helpers import init_repo

runner = CliRunner()


def _project(tmp_path: Path) -> Path:
    digest = hashlib.sha256(b"idna-3.7").hexdigest()
    rows = "\n".join(f"| {item} | r | c | `tests/test_ok.py::test_ok` |" for item in REQUIRED_ITEMS)
    return init_repo(
        tmp_path / "project",
        {
            ".gitignore": "var/\n",
            "src/pkg/mod.py": "def double(x: int) -> int:\n    return 2 * x\n",
            "requirements.lock": f"idna==3.7 \\\n    --hash=sha256:{digest}\n",
            "tests/test_ok.py": "def test_ok():\n    assert True\n",
            "docs/security/owasp-top10.md": "| Item | Risk | Control | Proof |\n|--|--|--|--|\n"
            + rows
            + "\n",
        },
    )


def test_bare_command_runs_every_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    monkeypatch.chdir(_project(tmp_path))
    # pip-audit (and what it starts) can reach nothing: every request goes to a closed port.
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{closed_port}")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    result = runner.invoke(audit_app, [])
    assert result.exit_code == 1, result.output
    report = json.loads(Path("var/audit/report.json").read_text())
    assert report["checks"] == ["code", "secrets", "config", "owasp", "deps"]
    blocking = [f for f in report["findings"] if f["severity"] in {"high", "critical"}]
    assert [(f["check"], f["status"]) for f in blocking] == [("deps", "not_audited")]
    assert "proxy" in blocking[0]["detail"].lower()
    # The only other finding: the temporary repository has no reviewed secrets baseline.
    assert [f["title"] for f in report["findings"] if f not in blocking] == [
        "No reviewed secrets baseline"
    ]
    assert {"report.md", "bandit.json", "sbom.cdx.json"} <= {
        p.name for p in Path("var/audit").iterdir()
    }


def test_not_audited_severity_is_configurable(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "broken.py").write_text("def broken(:\n", encoding="utf-8")
    args = ["code", "--src", str(src), "-o", str(tmp_path / "out")]
    assert runner.invoke(audit_app, args).exit_code == 1
    relaxed = runner.invoke(audit_app, [*args, "--not-audited-severity", "low"])
    assert relaxed.exit_code == 0, relaxed.output
    [finding] = json.loads((tmp_path / "out" / "report.json").read_text())["findings"]
    assert (finding["status"], finding["severity"]) == ("not_audited", "low")
    strict = runner.invoke(audit_app, [*args, "--not-audited-severity", "low", "--fail-on", "low"])
    assert strict.exit_code == 1


def test_verdict_and_markdown() -> None:
    found = Finding.make("code", Severity.MEDIUM, "Pipe | in title", "detail", "a.py:1")
    missing = Finding.not_audited("deps", "Dependencies not audited", "no service", "lock")
    results = [CheckResult("code", "1 file", [found]), CheckResult("deps", "none", [missing])]
    assert not decide(results, Severity.HIGH).passed
    assert decide(results, Severity.CRITICAL).passed
    assert [f.status for f in decide(results, Severity.MEDIUM).blocking] == [
        Status.NOT_AUDITED,
        Status.FINDING,
    ]
    data = report_data(results, decide(results, Severity.HIGH), Severity.HIGH, Path("out"))
    text = render_markdown(data)
    assert "Verdict: **FAIL**" in text
    assert "Pipe \\| in title" in text
    assert "| high | not_audited | deps | Dependencies not audited |" in text
