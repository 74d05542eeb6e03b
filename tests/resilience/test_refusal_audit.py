"""Refusals are counted in the metrics and audited aggregated: a flood of rate-limited requests,
or a burst of failed keys (credential stuffing), writes at most two audit rows per caller and
window, not one per request; the first at once, and no presented key in any row or log."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from ragops.auth.refusals import RefusalAuditor
from ragops.db import Database, migrate
from ragops.observability.context import request_id_var
from tests.conftest import RunningServer, make_settings
from tests.security.support import audit_rows, bearer, dump_tables


def _refused_total() -> float:
    return REGISTRY.get_sample_value("ragops_rate_limited_total", {"limit": "per_ip"}) or 0.0


def _failed_keys_total() -> float:
    return REGISTRY.get_sample_value("ragops_auth_failures_total", {"reason": "unknown"}) or 0.0


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


BURST = 40


def test_a_burst_of_failed_keys_writes_two_audit_rows_and_no_key(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Credential stuffing from one address: every attempt a different key (half shaped like
    ragops keys, which the log redaction knows, half not, which only never being written
    keeps out of the logs). The first failure is a row at once; the rest one summary."""
    tried = [f"rgo_{secrets.token_urlsafe(32)}" for _ in range(BURST // 2)]
    tried += [f"stuffed-{secrets.token_hex(16)}" for _ in range(BURST - len(tried))]
    settings = make_settings(tmp_path / "var", log_level="INFO")
    running = RunningServer(settings)
    live = running.start()
    before = _failed_keys_total()
    try:
        _away_from_a_minute_boundary()
        with live.client(authenticated=False) as client:
            codes = [
                client.get(
                    "/v1/documents", headers={**bearer(key), "X-Request-ID": f"stuffing-{i}"}
                ).status_code
                for i, key in enumerate(tried)
            ]
        assert codes == [401] * BURST
        assert _failed_keys_total() - before == BURST
        [first] = audit_rows(settings, "auth.failure")  # the first failure, at once
        assert first.request_id == "stuffing-0" and first.detail == {"reason": "unknown"}
        assert first.client_address == "127.0.0.1" and first.target == "GET /v1/documents"
    finally:
        running.stop()
    first_row, summary = audit_rows(settings, "auth.failure")  # the rest, at shutdown
    assert first_row.id == first.id
    assert summary.detail is not None and summary.detail["summary"] is True
    assert summary.detail["reason"] == "unknown"
    assert summary.detail["count"] == BURST - 1
    assert summary.detail["distinct_keys"] == BURST
    assert summary.detail["targets"] == ["GET /v1/documents"]
    assert summary.client_address == "127.0.0.1" and summary.actor_key_id is None
    assert summary.request_id is None  # it stands for many requests
    stored = dump_tables(settings)
    logged = "".join(capfd.readouterr())
    assert "audit_event" in logged and "stuffing-0" in logged  # the logs were captured
    for key in tried:
        # no key, nor its random part's first 16 characters, in any row or log line
        secret_part = key.split("_", 1)[1] if key.startswith("rgo_") else key.split("-", 1)[1]
        for text in (stored, logged):
            assert key not in text and secret_part[:16] not in text


async def test_summaries_of_failed_keys_are_written_when_the_window_ends(tmp_path: Path) -> None:
    """Per address and reason (and key id, for an expired or revoked key); a summary is
    written by the window's end without a request's id, though a request started it."""
    settings = make_settings(tmp_path / "var")
    await migrate.upgrade(settings)
    db = Database(settings)
    auditor = RefusalAuditor(db, window_seconds=1.0)
    try:
        if time.time() % 1.0 > 0.5:  # keep the refusals inside one window
            await asyncio.sleep(1.0 - time.time() % 1.0)
        token = request_id_var.set("req-first")
        try:
            for i in range(20):
                await auditor.auth_failure(
                    reason="unknown",
                    target="POST /v1/chat",
                    client_address="203.0.113.7",
                    key_digest=f"digest-{i % 4}",
                )
            for _ in range(3):
                await auditor.auth_failure(
                    reason="revoked",
                    target="GET /v1/documents",
                    client_address="203.0.113.7",
                    tenant_id="acme",
                    key_id="key-1",
                    key_digest="digest-revoked",
                )
            await auditor.auth_failure(
                reason="missing", target="GET /v1/jobs", client_address="198.51.100.2"
            )
        finally:
            request_id_var.reset(token)
        await asyncio.sleep(1.3)  # the window has ended: its summaries are written by themselves
        rows = await asyncio.to_thread(audit_rows, settings, "auth.failure")
        described = [(r.client_address, r.actor_key_id, r.request_id, r.detail or {}) for r in rows]
        firsts = [(a, k, r, d["reason"]) for a, k, r, d in described if "count" not in d]
        assert firsts == [
            ("203.0.113.7", None, "req-first", "unknown"),
            ("203.0.113.7", "key-1", "req-first", "revoked"),
            ("198.51.100.2", None, "req-first", "missing"),
        ]
        summaries = {d["reason"]: (a, k, r, d) for a, k, r, d in described if "count" in d}
        assert set(summaries) == {"unknown", "revoked"}  # one failure alone needs none
        address, key_id, request_id, unknown = summaries["unknown"]
        assert (address, key_id, request_id) == ("203.0.113.7", None, None)
        assert (unknown["count"], unknown["distinct_keys"]) == (19, 4)
        assert unknown["targets"] == ["POST /v1/chat"]
        revoked = summaries["revoked"][3]
        assert (revoked["count"], revoked["distinct_keys"]) == (2, 1)
        assert summaries["revoked"][1] == "key-1"
        assert {r.tenant_id for r in rows if (r.detail or {})["reason"] == "revoked"} == {"acme"}
        assert "digest-" not in str([r.detail for r in rows])
    finally:
        await auditor.aclose()
        await db.dispose()
