"""Dependency gauges follow an outage without anyone probing /readyz: the background checks
keep `ragops_dependency_up` current, so the dependency alerts can fire on their own."""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.conftest import RunningServer, free_port, make_settings


def _llm_up(text: str) -> str | None:
    match = re.search(r'^ragops_dependency_up\{dependency="llm"\} (\S+)$', text, re.M)
    return match.group(1) if match else None


def test_background_checks_mark_a_dead_llm_down(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "var",
        llm_base_url=f"http://127.0.0.1:{free_port()}/v1",  # nothing listens there
        dependency_check_seconds=0.5,
        readiness_cache_seconds=0,
        readiness_timeout_seconds=1,
    )
    running = RunningServer(settings)
    live = running.start()
    try:
        deadline = time.monotonic() + 20
        value = None
        with live.client() as client:
            while time.monotonic() < deadline:
                value = _llm_up(client.get("/metrics").text)
                if value == "0.0":
                    break
                time.sleep(0.3)
        assert value == "0.0"
    finally:
        running.stop()
