"""`/version` is served from memory (no database connection per call) and limited per client
address like the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import event

from ragops.db import migrate
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
        checkouts: list[Any] = []
        engine = app.state.runtime.db.engine.sync_engine
        event.listen(engine, "checkout", lambda *args: checkouts.append(args))
        with live.client() as client:
            answers = [client.get("/version") for _ in range(20)]
            assert checkouts == []  # not one database connection for 20 calls
            refused = client.get("/version")
        assert [a.status_code for a in answers] == [200] * 20
        head = migrate.head_revision()
        assert answers[0].json()["migrations"]["current"] == head
        assert refused.status_code == 429
    finally:
        running.stop()
