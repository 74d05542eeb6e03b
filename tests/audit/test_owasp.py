"""`ragops audit owasp`: the map's rows, checked against test files parsed with `ast`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ragops.audit.cli import audit_app
from ragops.audit.owasp import REQUIRED_ITEMS, audit_owasp, parse_map

runner = CliRunner()
REPO_ROOT = Path(__file__).resolve().parents[2]
TESTS = """\
import pytest


def test_key_required():
    pass


async def test_async_proof():
    pass


class TestHeaders:
    def test_hsts(self):
        pass
"""


def _project(tmp_path: Path, rows: list[str]) -> Path:
    (tmp_path / "tests" / "sec").mkdir(parents=True)
    (tmp_path / "tests" / "sec" / "test_proofs.py").write_text(TESTS, encoding="utf-8")
    doc = tmp_path / "docs" / "security" / "owasp-top10.md"
    doc.parent.mkdir(parents=True)
    table = ["| Item | Risk | Control | Proof |", "|---|---|---|---|", *rows]
    doc.write_text("# Map\n\n" + "\n".join(table) + "\n", encoding="utf-8")
    return tmp_path


def _full_rows() -> list[str]:
    proof = "`tests/sec/test_proofs.py::test_key_required`"
    return [f"| {item} | risk | control | {proof} |" for item in REQUIRED_ITEMS]


def test_every_item_proven_passes(tmp_path: Path) -> None:
    rows = _full_rows()
    rows[1] = "| A02 | r | c | `tests/sec/test_proofs.py::TestHeaders::test_hsts` |"
    rows[2] = "| A03 | r | c | `tests/sec/test_proofs.py::test_async_proof[case-1]` |"
    rows.append("| LLM01 | prompt injection | c | `tests/sec/test_proofs.py::test_key_required` |")
    root = _project(tmp_path, rows)
    result = audit_owasp(root)
    assert result.findings == []
    assert result.summary == (
        "11 OWASP items mapped in docs/security/owasp-top10.md; 11 of 11 named tests exist"
    )
    out = tmp_path / "out"
    cli = runner.invoke(audit_app, ["owasp", "--root", str(root), "-o", str(out)])
    assert cli.exit_code == 0, cli.output


def test_missing_tests_and_items_are_findings(tmp_path: Path) -> None:
    rows = _full_rows()[:-1]  # no A10 row
    rows[0] = (
        "| A01 | r | c | `tests/sec/test_proofs.py::test_key_required` "
        "`tests/sec/test_proofs.py::test_not_written_yet` `tests/planned/test_x.py::test_y` |"
    )
    rows[1] = "| A02 | r | c | to be decided |"
    root = _project(tmp_path, rows)
    findings = audit_owasp(root).findings
    assert sorted(f.title for f in findings) == [
        "A01 unproven: tests/planned/test_x.py::test_y",
        "A01 unproven: tests/sec/test_proofs.py::test_not_written_yet",
        "A02 names no test",
        "A10 not mapped",
    ]
    details = sorted(f.detail for f in findings if f.title.startswith("A01"))
    assert details[0].startswith("tests/planned/test_x.py::test_y: test file ")
    assert "tests/planned/test_x.py does not exist" in details[0]
    assert "test_not_written_yet is not defined in tests/sec/test_proofs.py" in details[1]
    out = tmp_path / "out"
    cli = runner.invoke(audit_app, ["owasp", "--root", str(root), "-o", str(out)])
    assert cli.exit_code == 1, cli.output
    assert json.loads((out / "report.json").read_text())["counts"]["high"] == 4


def test_missing_map_is_a_finding(tmp_path: Path) -> None:
    [finding] = audit_owasp(tmp_path).findings
    assert finding.title == "OWASP map missing"


def test_the_projects_map_covers_every_item() -> None:
    items = parse_map((REPO_ROOT / "docs/security/owasp-top10.md").read_text(encoding="utf-8"))
    assert set(REQUIRED_ITEMS) <= set(items)
    assert {"LLM01", "LLM02", "LLM05", "LLM07", "LLM08", "LLM10"} <= set(items)
    assert all(items.values()), "every row names at least one test"
