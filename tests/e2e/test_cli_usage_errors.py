"""A usage error of any `ragops` command (an unknown option or command, a missing argument, a
bad option value) is the one `error:` line docs/cli.md promises, naming what was wrong and
the command's `--help`, exit 2: run as real processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli

CASES = [
    (("documents", "list", "--bogus"), "No such option: --bogus", "ragops documents list"),
    (("documents", "delete"), "Missing argument 'document_id'", "ragops documents delete"),
    (("audit-log", "--limit", "abc"), "Invalid value for '--limit'", "ragops audit-log"),
    (("backup", "create", "--keep", "0"), "Invalid value for '--keep'", "ragops backup create"),
    (("db", "pool", "reset", "--now"), "No such option: --now", "ragops db pool reset"),
    (("nosuch",), "No such command 'nosuch'", "ragops"),
    (("--bogus",), "No such option: --bogus", "ragops"),
]


@pytest.mark.parametrize(("args", "what", "command"), CASES)
def test_a_usage_error_is_one_error_line(
    tmp_path: Path, args: tuple[str, ...], what: str, command: str
) -> None:
    result = run_cli(tmp_path / "var", *args, check=False)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and what in lines[0], lines[0]
    assert lines[0].endswith(f"(run '{command} --help')"), lines[0]


def test_help_is_unchanged(tmp_path: Path) -> None:
    assert "Usage: ragops documents list" in run_cli(tmp_path, "documents", "list", "--help").stdout
    bare = run_cli(tmp_path, "documents", check=False)  # a group without a command: its help
    assert bare.returncode == 2 and "Usage: ragops documents" in bare.stdout
    assert "error:" not in bare.stderr
