"""Database down (connections refused and dropped by a proxy the test cuts): requests that
need it answer 503 with Retry-After within the pool timeout, never 500 or a hang; readiness
goes false; when the database is back the pool recovers without a restart, and every
acknowledged (2xx) upload is in the database."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy.engine import make_url

from ragops.db import migrate
from tests.conftest import RunningServer, make_settings
from tests.resilience.tcp_proxy import TcpProxy


async def test_database_outage_is_a_503_and_the_pool_recovers(pg_url: str, tmp_path: Path) -> None:
    url = make_url(pg_url)
    await migrate.upgrade(make_settings(tmp_path / "var", database_url=pg_url))
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432)).start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    settings = make_settings(
        tmp_path / "var",
        database_url=proxied,
        auth_enabled=False,
        auto_migrate=False,
        db_pool_timeout=2.0,
        readiness_cache_seconds=0.0,
        readiness_timeout_seconds=1.0,
        dependency_check_seconds=0.0,
    )
    running = RunningServer(settings)
    live = running.start()
    acknowledged: list[str] = []
    try:
        with live.client() as client:

            def upload(name: str) -> int:
                files = {"files": (name, f"# {name}\n\nSome text about {name}.".encode())}
                status = client.post("/v1/documents", files=files).status_code
                if status == 200:
                    acknowledged.append(name)
                return status

            assert upload("before.md") == 200

            proxy.cut()
            for _ in range(3):
                started = time.monotonic()
                listed = client.get("/v1/documents")
                assert listed.status_code == 503, listed.text
                assert listed.headers["Retry-After"] == "5"
                assert time.monotonic() - started < settings.db_pool_timeout + 3
            assert upload("during.md") == 503
            ready = client.get("/readyz")
            assert ready.status_code == 503 and "database_down" in ready.json()["reasons"]

            proxy.restore()
            deadline = time.monotonic() + 15
            while client.get("/v1/documents").status_code != 200:
                assert time.monotonic() < deadline, "the pool did not recover"
                time.sleep(0.3)
            assert upload("after.md") == 200
            assert client.get("/readyz").status_code == 200
            stored = {d["source"] for d in client.get("/v1/documents").json()["items"]}
            assert set(acknowledged) <= stored and "during.md" not in stored
    finally:
        running.stop()
        proxy.stop()
