"""docs/api.md's error table names every (status, code) the app's own exception handlers
answer (`ragops.api.errors`), so a client's error can be looked up there."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def documented_codes() -> set[tuple[int, str]]:
    """(status, code) of every row of the table under docs/api.md's "Errors"."""
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    section = text.split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    codes = set()
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        if len(cells) == 3 and cells[0].isdigit():
            codes |= {(int(cells[0]), code) for code in re.findall(r"`([a-z_]+)`", cells[1])}
    return codes


def handler_codes() -> set[tuple[int, str]]:
    """(status, code) written literally in the exception handlers' error responses."""
    source = (ROOT / "src" / "ragops" / "api" / "errors.py").read_text(encoding="utf-8")
    pattern = r'error_response\(\s*(\d{3}),\s*"([a-z_]+)"'
    return {(int(status), code) for status, code in re.findall(pattern, source)}


def test_every_code_of_the_exception_handlers_is_in_the_error_table() -> None:
    assert handler_codes() - documented_codes() == set()


def test_both_readers_find_codes() -> None:
    assert {(503, "database_unavailable"), (422, "validation_error")} <= handler_codes()
    assert {(401, "unauthorized"), (503, "overloaded")} <= documented_codes()


def raised_codes() -> set[str]:
    """Every error code a service or route raises by name (`code="..."` on a ragops error)."""
    codes: set[str] = set()
    for path in (ROOT / "src" / "ragops").rglob("*.py"):
        codes |= set(re.findall(r'\bcode="([a-z_]+)"', path.read_text(encoding="utf-8")))
    return codes


def idempotency_codes() -> set[str]:
    """The codes of docs/api.md's Idempotency-Key table (a table of its own)."""
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    section = text.split("\n## Retrying a POST: Idempotency-Key\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"\| \d{3} `([a-z_]+)`", section))


def test_every_code_a_route_raises_is_in_an_error_table() -> None:
    """A client that gets `job_not_found` or `too_many_files` finds it in docs/api.md."""
    documented = {code for _, code in documented_codes()} | idempotency_codes()
    assert raised_codes() - documented == set()
    assert {"job_not_found", "idempotency_key_reused"} <= raised_codes()
