"""Sentry over real HTTP: with RAGOPS_SENTRY_DSN pointing at a local server that receives the
SDK's envelopes, an unhandled error in a request (raised by a test-only route) arrives with
the release, the environment and the request id, and without any planted secret."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sentry_sdk

from ragops import __version__
from ragops.observability.sentry import scrub_event
from tests.conftest import LiveServer, RunningServer
from tests.ops_app.conftest import app_of, ops_settings
from tests.ops_app.sinks import CaptureSink, Received, capture_sink

API_KEY = "sk-sentryplanted0123456789abcdef"
DB_PASSWORD = "db-planted-password-77"
BEARER = "bearer-planted-token-0123456789"
SECRETS = (API_KEY, DB_PASSWORD, BEARER)


def _items(post: Received) -> list[dict[str, Any]]:
    """The JSON items of an envelope (header line, then item header / payload pairs)."""
    items = []
    for line in post.body.split(b"\n"):
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            items.append(parsed)
    return items


@pytest.fixture(scope="module")
def sink() -> Iterator[CaptureSink]:
    with capture_sink() as started:
        yield started


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sink: CaptureSink) -> Iterator[LiveServer]:
    port = sink.url.rsplit(":", 1)[1]
    data_dir: Path = tmp_path_factory.mktemp("sentry") / "var"
    settings = ops_settings(data_dir, sentry_dsn=f"http://publickey@127.0.0.1:{port}/1")
    running = RunningServer(settings)

    async def boom() -> None:
        password = DB_PASSWORD  # a local variable Sentry would ship with the stack frame
        dsn = f"postgresql://app:{password}@db.internal/prod"
        raise RuntimeError(f"cannot reach {dsn} with key {API_KEY}")

    app_of(running).add_api_route("/test/boom", boom)
    try:
        yield running.start()
    finally:
        running.stop()


def test_unhandled_error_reaches_sentry_scrubbed(server: LiveServer, sink: CaptureSink) -> None:
    with server.client() as client:
        response = client.get(
            "/test/boom",
            headers={"X-Request-ID": "sentry-req-42", "Authorization": f"Bearer {BEARER}"},
        )
    assert response.status_code == 500
    sentry_sdk.flush(timeout=10)

    posts = sink.wait_for(lambda r: r.path == "/api/1/envelope/" and b"RuntimeError" in r.body)
    raw = b"".join(p.body for p in posts)
    for secret in SECRETS:
        assert secret.encode() not in raw, secret
    event = next(i for p in posts for i in _items(p) if "exception" in i)
    assert event["tags"]["request_id"] == "sentry-req-42"
    assert event["release"] == f"ragops@{__version__}"
    assert event["environment"] == "test"
    exception = event["exception"]["values"][-1]
    assert exception["type"] == "RuntimeError"
    assert "[REDACTED]" in exception["value"]
    assert "user" not in event or "ip_address" not in event.get("user", {})


def test_scrub_event_redacts_by_key_and_by_content() -> None:
    event: Any = {
        "message": f"failed with {API_KEY}",
        "extra": {"password": DB_PASSWORD, "note": f"Authorization: Bearer {BEARER}"},
        "breadcrumbs": {"values": [{"message": f"postgresql://u:{DB_PASSWORD}@h/db"}]},
    }
    cleaned = scrub_event(event, {})
    assert cleaned is not None
    text = json.dumps(cleaned)
    for secret in SECRETS:
        assert secret not in text
    assert cleaned["extra"]["password"] == "[REDACTED]"
