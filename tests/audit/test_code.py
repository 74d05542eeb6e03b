"""`ragops audit code`: bandit runs for real over a small planted tree."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ragops.audit.cli import audit_app

PLANTED = """\
import pickle
import subprocess

import yaml


def run(command, blob, text):
    subprocess.call(command, shell=True)
    pickle.loads(blob)
    return yaml.load(text)
"""

runner = CliRunner()


def _src(tmp_path: Path, text: str) -> Path:
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "mod.py").write_text(text, encoding="utf-8")
    return src


def test_bandit_finds_planted_issues(tmp_path: Path) -> None:
    src, out = _src(tmp_path, PLANTED), tmp_path / "out"
    result = runner.invoke(audit_app, ["code", "--src", str(src), "--output-dir", str(out)])
    assert result.exit_code == 1, result.output
    report = json.loads((out / "report.json").read_text())
    found = {f["title"].split(":")[0]: f for f in report["findings"]}
    assert found["B602"]["severity"] == "high"  # subprocess with shell=True
    assert found["B506"]["severity"] == "medium"  # yaml.load
    assert found["B301"]["severity"] == "medium"  # pickle.loads
    assert found["B602"]["location"].endswith("mod.py:8")
    assert all(f["status"] == "finding" and f["check"] == "code" for f in report["findings"])
    assert not report["passed"]
    assert (out / "bandit.json").is_file()
    assert "B602" in (out / "report.md").read_text()


def test_fail_on_critical_lets_high_pass(tmp_path: Path) -> None:
    src, out = _src(tmp_path, PLANTED), tmp_path / "out"
    args = ["code", "--src", str(src), "-o", str(out), "--fail-on", "critical"]
    result = runner.invoke(audit_app, args)
    assert result.exit_code == 0, result.output


def test_clean_source_passes(tmp_path: Path) -> None:
    src, out = _src(tmp_path, "def add(a: int, b: int) -> int:\n    return a + b\n"), tmp_path / "o"
    result = runner.invoke(audit_app, ["code", "--src", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "report.json").read_text())["findings"] == []


def test_unparsable_file_is_not_audited(tmp_path: Path) -> None:
    src, out = _src(tmp_path, "def broken(:\n"), tmp_path / "o"
    result = runner.invoke(audit_app, ["code", "--src", str(src), "-o", str(out)])
    assert result.exit_code == 1, result.output
    [finding] = json.loads((out / "report.json").read_text())["findings"]
    assert finding["status"] == "not_audited"
    assert finding["severity"] == "high"


def test_missing_or_empty_src_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for path in (tmp_path / "missing", tmp_path / "empty"):
        result = runner.invoke(audit_app, ["code", "--src", str(path), "-o", str(tmp_path)])
        assert result.exit_code == 2, result.output
        assert "error" in result.output
