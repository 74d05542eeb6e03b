"""`ragops audit owasp`: the OWASP map in `docs/security/owasp-top10.md`, checked against the tests.

The map is a Markdown table whose rows start with an item id (`A01`..`A10` of the OWASP Top 10
2021, `LLM01`..`LLM10` of the OWASP Top 10 for LLM applications 2025) and name, in backticks,
the pytest node ids that prove the control (`tests/x/test_y.py::test_z`, or with a class,
`tests/x/test_y.py::TestY::test_z`). The check parses each named file with `ast` and looks for
the function; it does not run the tests (the test suite does). Every A01..A10 item needs at
least one row, every row at least one test, and every named test must exist.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from ragops.audit.findings import CheckResult, Finding, Severity

CHECK = "owasp"
DEFAULT_MAP = Path("docs/security/owasp-top10.md")
REQUIRED_ITEMS = tuple(f"A{n:02d}" for n in range(1, 11))

_ROW = re.compile(r"^\|\s*\**((?:A|LLM)\d{2})\b")
_NODE = re.compile(r"`([^`\s]+\.py(?:::[A-Za-z_][A-Za-z0-9_]*)+(?:\[[^\]`]*\])?)`")


def parse_map(text: str) -> dict[str, list[str]]:
    """Item id -> test node ids named in its rows (in order; an item may span several rows)."""
    items: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = _ROW.match(line.strip())
        if match:
            items.setdefault(match.group(1), []).extend(_NODE.findall(line))
    return items


def _defined_names(path: Path) -> set[str]:
    """`name` for each top-level function and `Class::method` for each method in a test file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    for node in tree.body:
        if isinstance(node, functions):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.update(
                f"{node.name}::{item.name}" for item in node.body if isinstance(item, functions)
            )
    return names


def missing_reason(node_id: str, root: Path, cache: dict[Path, set[str] | str]) -> str | None:
    """Why `node_id` does not name a defined test under `root`, or None when it does."""
    file_part, _, name = node_id.partition("::")
    name = name.split("[", 1)[0]
    path = root / file_part
    if path not in cache:
        if not path.is_file():
            cache[path] = f"test file {file_part} does not exist"
        else:
            try:
                cache[path] = _defined_names(path)
            except SyntaxError as exc:
                cache[path] = f"test file {file_part} does not parse: {exc.msg}"
    known = cache[path]
    if isinstance(known, str):
        return known
    return None if name in known else f"{name} is not defined in {file_part}"


def audit_owasp(root: Path, map_path: Path = DEFAULT_MAP) -> CheckResult:
    """Check the OWASP map at `root / map_path` against the test files under `root`."""
    doc = root / map_path
    location = map_path.as_posix()
    if not doc.is_file():
        finding = Finding.make(
            CHECK,
            Severity.HIGH,
            "OWASP map missing",
            f"{location} does not exist: no OWASP item is mapped to a control and a test.",
            location,
        )
        return CheckResult(CHECK, f"{location} missing", [finding])
    items = parse_map(doc.read_text(encoding="utf-8"))
    findings: list[Finding] = []
    for item in REQUIRED_ITEMS:
        if item not in items:
            findings.append(
                Finding.make(
                    CHECK,
                    Severity.HIGH,
                    f"{item} not mapped",
                    f"No row of {location} maps OWASP {item} to a control and its tests.",
                    location,
                )
            )
    cache: dict[Path, set[str] | str] = {}
    named = proven = 0
    for item, node_ids in items.items():
        if not node_ids:
            findings.append(
                Finding.make(
                    CHECK,
                    Severity.HIGH,
                    f"{item} names no test",
                    f"The {item} row of {location} names no pytest node id as proof.",
                    f"{location} ({item})",
                )
            )
        for node_id in dict.fromkeys(node_ids):
            named += 1
            reason = missing_reason(node_id, root, cache)
            if reason is None:
                proven += 1
                continue
            findings.append(
                Finding.make(
                    CHECK,
                    Severity.HIGH,
                    f"{item} unproven: {node_id}",
                    f"{node_id}: {reason}. The control is unproven until the test exists.",
                    f"{location} ({item})",
                    key=node_id,
                )
            )
    summary = (
        f"{len(items)} OWASP items mapped in {location}; {proven} of {named} named tests exist"
    )
    return CheckResult(CHECK, summary, findings)
