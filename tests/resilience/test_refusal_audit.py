"""Rate-limit refusals are counted in the metrics and audited aggregated: a flood of refused
requests writes at most two audit rows per caller and window, not one per request."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from prometheus_client import REGISTRY

from ragops.auth.refusals import RefusalAuditor
from ragops.db import Database, migrate
from tests.conftest import RunningServer, make_settings
from tests.security.support import audit_rows


def _refused_total() -> float:
    return REGISTRY.get_sample_value("ragops_rate_limited_total", {"limit": "per_ip"}) or 0.0


def _away_from_a_minute_boundary() -> None:
    """The audit window is the clock's minute: keep the flood inside one."""
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)


def test_a_flood_of_refusals_writes_two_audit_rows(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "var", auth_enabled=False, rate_limit_per_ip="3/minute")
    running = RunningServer(settings)
    live = running.start()
    before = _refused_total()
    try:
        _away_from_a_minute_boundary()
        with live.client() as client:
            codes = [client.get("/v1/collections").status_code for _ in range(100)]
        assert codes.count(200) == 3 and codes.count(429) == 97
        assert _refused_total() - before == 97
        [first] = audit_rows(settings, "rate_limit.block")  # the first refusal, at once
        assert first.client_address == "127.0.0.1" and first.detail is not None
        assert "count" not in first.detail
    finally:
        running.stop()
    first_row, summary = audit_rows(settings, "rate_limit.block")  # the rest, at shutdown
    assert summary.detail is not None and summary.detail["summary"] is True
    assert summary.detail["count"] == 96
    assert summary.detail["targets"] == ["GET /v1/collections"]


async def test_summaries_are_written_when_the_window_ends(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "var")
    await migrate.upgrade(settings)
    db = Database(settings)
    auditor = RefusalAuditor(db, window_seconds=1.0)
    try:
        details = {"limit": "chat", "identity": "key:abc123", "method": "POST", "path": "/v1/chat"}
        if time.time() % 1.0 > 0.5:  # keep the 50 refusals inside one window
            await asyncio.sleep(1.0 - time.time() % 1.0)
        for _ in range(50):
            await auditor("rate_limited", details)
        await asyncio.sleep(1.3)  # the window has ended: its summary is written by itself
        rows = await asyncio.to_thread(audit_rows, settings, "rate_limit.block")
        assert [(r.detail or {}).get("count") for r in rows] == [None, 49]
        assert rows[0].actor_key_id == "abc123"
    finally:
        await auditor.aclose()
        await db.dispose()
