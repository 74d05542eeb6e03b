"""The /ops summary tells the truth about the answer cache and the database pool: the share
of questions answered from the cache (exact and semantic hits over questions), the cache's
backend, TTL and threshold, and the configured pool (PostgreSQL) or its absence (SQLite)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import REDIS_URL, RunningServer, pg_database
from tests.e2e.conftest import POOL_DOC, upload
from tests.ops_app.conftest import ops_settings

QUESTION = "How many connections does the pool keep open?"
PARAPHRASE = "How many connections are kept open by the pool?"


def test_summary_shows_cache_hits_and_configuration(tmp_path: Path) -> None:
    settings = ops_settings(tmp_path / "var", ops_sample_seconds=1.0)
    running = RunningServer(settings)
    try:
        server = running.start()
        with server.client() as client:
            before = client.get("/ops/api/summary").json()["totals"]
            assert upload(client, [("pool.md", POOL_DOC, "text/markdown")]).status_code == 200
            served = [
                client.post("/v1/chat", json={"question": q}).headers["X-Cache"]
                for q in (QUESTION, QUESTION, PARAPHRASE)
            ]
            assert served == ["miss", "hit-exact", "hit-semantic"]
            time.sleep(1.2)
            summary = client.get("/ops/api/summary").json()
    finally:
        running.stop()
    totals = summary["totals"]
    assert totals["cache_lookups"] - before["cache_lookups"] == 3  # one per question
    assert totals["cache_hits"] - before["cache_hits"] == 2
    assert totals["cache_semantic_hits"] - before["cache_semantic_hits"] == 1
    assert summary["cache"]["backend"] == "memory" and summary["cache"]["semantic"] is True
    assert summary["cache"]["ttl_seconds"] == 86400
    assert 0.5 < summary["cache"]["semantic_threshold"] < 1.0
    assert summary["database"] == {  # SQLAlchemy's pool of a SQLite file, as the live tile
        "backend": "sqlite",
        "pool_min": 5,
        "pool_max": 15,
        "pool_timeout_seconds": 30.0,
        "pool_recycle_seconds": None,
    }


def test_summary_shows_the_postgres_pool_and_redis(tmp_path: Path) -> None:
    with pg_database() as url:
        settings = ops_settings(tmp_path / "var", database_url=url, redis_url=REDIS_URL)
        running = RunningServer(settings)
        try:
            server = running.start()
            with server.client() as client:
                summary = client.get("/ops/api/summary").json()
        finally:
            running.stop()
    assert summary["cache"]["backend"] == "redis"
    database = summary["database"]
    assert database["backend"] == "postgresql"
    assert (database["pool_min"], database["pool_max"], database["pool_timeout_seconds"]) == (
        5,
        20,
        30.0,
    )
