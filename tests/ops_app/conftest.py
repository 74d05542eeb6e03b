"""Helpers of the operations tests: settings for a served app and test-only routes."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from ragops.config import Settings
from tests.conftest import RunningServer, make_settings, pg_database


def ops_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Test settings with API keys off (these tests exercise the operations layer only)."""
    values: dict[str, Any] = {"auth_enabled": False, "bootstrap_api_key": False}
    values.update(overrides)
    return make_settings(data_dir, **values)


def app_of(running: RunningServer) -> FastAPI:
    """The application a not-yet-started `RunningServer` will serve (to add test routes)."""
    app = running.server.config.app
    assert isinstance(app, FastAPI)
    return app


@contextmanager
def fresh_pg_database() -> Iterator[str]:
    """`pg_database()` run on a worker thread: its `asyncio.run` calls then work even while
    the session's Playwright browser keeps an event loop running on the main thread."""
    with ThreadPoolExecutor(1) as worker:
        database = pg_database()
        url = worker.submit(database.__enter__).result()
        try:
            yield url
        finally:
            worker.submit(database.__exit__, None, None, None).result()
