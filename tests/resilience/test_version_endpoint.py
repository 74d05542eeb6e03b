"""`/version` is served from memory (no database connection per call) and limited per client
address like the API."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import event

from ragops.db import migrate
from ragops.observability.context import request_id_var
from tests.conftest import RunningServer, make_settings


def test_version_opens_no_connection_and_is_rate_limited(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "var",
        auth_enabled=False,
        rate_limit_per_ip="20/minute",
        dependency_check_seconds=0.0,
    )
    running = RunningServer(settings)
    live = running.start()
    try:
        app = running.server.config.app
        assert isinstance(app, FastAPI)
        # checkouts made while answering a request; the service's background tasks (job
        # queue, escalation passes, request-log flush) may also check out meanwhile
        checkouts: list[str | None] = []
        engine = app.state.runtime.db.engine.sync_engine
        event.listen(
            engine,
            "checkout",
            lambda *args: checkouts.append(request_id_var.get()) if request_id_var.get() else None,
        )
        with live.client() as client:
            answers = [client.get("/version") for _ in range(20)]
            assert checkouts == []  # not one database connection for 20 calls
            refused = client.get("/version")
            # the listener does see a request that uses the database
            assert client.get("/readyz").status_code == 200
            assert checkouts
        assert [a.status_code for a in answers] == [200] * 20
        head = migrate.head_revision()
        assert answers[0].json()["migrations"]["current"] == head
        assert refused.status_code == 429
    finally:
        running.stop()
