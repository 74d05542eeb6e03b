"""Fixtures of the ops tests: promtool and amtool (installed by the project's script), paths."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ops.support import INSTALL, ROOT, OpsTools


@pytest.fixture(scope="session")
def ops_tools() -> OpsTools:
    """promtool and amtool, installed by scripts/install-ops-tools.sh; a failed install fails."""
    result = subprocess.run(
        ["bash", str(INSTALL)], capture_output=True, text=True, timeout=900, check=False
    )
    assert result.returncode == 0, f"install-ops-tools.sh failed:\n{result.stdout}{result.stderr}"
    promtool, amtool = shutil.which("promtool"), shutil.which("amtool")
    assert promtool and amtool, "install-ops-tools.sh succeeded but promtool/amtool are missing"
    return OpsTools(promtool=promtool, amtool=amtool)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT
