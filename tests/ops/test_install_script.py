"""scripts/install-ops-tools.sh: idempotent, and it leaves no Prometheus or Alertmanager running."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from tests.ops.support import INSTALL, OpsTools


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_second_run_only_prints_versions(ops_tools: OpsTools) -> None:
    result = subprocess.run(
        ["bash", str(INSTALL)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "promtool, version" in result.stdout and "amtool, version" in result.stdout
    assert "installing" not in result.stderr


def test_no_packaged_service_holds_the_test_ports(ops_tools: OpsTools) -> None:
    assert port_free(9090) and port_free(9093)


def test_script_is_strict_and_non_interactive() -> None:
    text = Path(INSTALL).read_text()
    assert text.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in text and "lib/debian-packages.sh" in text
    shared = (Path(INSTALL).parent / "lib" / "debian-packages.sh").read_text()
    assert "DEBIAN_FRONTEND=noninteractive apt-get install" in shared
    assert "policy-rc.d" in shared
