"""`ragops stack restart` of a stack that is not running says so, instead of supervisorctl's
"supervisor.sock no such file"."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragops.stack.config import make_plan, write_files
from ragops.stack.service import Stack, StackError
from tests.conftest import REDIS_URL


def test_restart_of_a_stopped_stack_says_it_is_not_running(tmp_path: Path) -> None:
    overrides = {
        "RAGOPS_DATABASE_URL": "postgresql+asyncpg://ragops@127.0.0.1:1/unused",
        "RAGOPS_REDIS_URL": REDIS_URL,
    }
    stack = Stack(make_plan(tmp_path / "run", 2, environ={}, overrides=overrides))
    write_files(stack.plan)
    with pytest.raises(StackError, match=r"no stack runs in .*: `ragops stack up` it first"):
        stack.restart()
