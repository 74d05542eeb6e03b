"""Logging through the real setup, captured from the handler's stream: planted secrets never
appear (JSON and console formats), and inside a request every line carries the request id and
the trace id, with one access line per request."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from ragops.observability import logging as logmod
from ragops.observability.logging import configure_logging
from ragops.observability.tracing import current_trace_id
from tests.conftest import RunningServer
from tests.ops_app.conftest import app_of, ops_settings
from tests.ops_app.sinks import capture_sink

API_KEY = "sk-loggingplanted0123456789abcdef"
BEARER = "loggingbearertoken0123456789"
PASSWORD = "logging-planted-password"
DB_SECRET = "dbsecret-planted-99"
DB_URL = f"postgresql://user:{DB_SECRET}@host/db"
SECRETS = (API_KEY, BEARER, PASSWORD, DB_SECRET)


def _handler() -> logging.StreamHandler[Any]:
    for handler in logging.getLogger().handlers:
        if handler.get_name() == "ragops" and isinstance(handler, logging.StreamHandler):
            return handler
    raise AssertionError("configure_logging installed no 'ragops' handler")


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Point the ragops handler (installed by the code under test) at a buffer."""
    buffer = io.StringIO()
    yield buffer
    try:
        _handler().setStream(sys.stderr)
    except AssertionError:
        pass


def _log_secrets() -> None:
    stdlib = logging.getLogger("ragops.test.stdlib")
    stdlib.warning("connecting to %s", DB_URL)
    stdlib.warning("sent header Authorization: Bearer %s", BEARER)
    stdlib.warning("config password=%s api_key=%s", PASSWORD, API_KEY)
    try:
        raise RuntimeError(f"login failed for {DB_URL} with {API_KEY}")
    except RuntimeError:
        stdlib.exception("failure")
    log = structlog.get_logger("ragops.test.structlog")
    log.warning(
        "calling the provider",
        api_key=API_KEY,
        headers={"Authorization": f"Bearer {BEARER}"},
        url=DB_URL,
        detail=f"password={PASSWORD}",
    )


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_planted_secrets_never_reach_the_output(
    tmp_path: Path, captured: io.StringIO, log_format: str
) -> None:
    configure_logging(ops_settings(tmp_path, log_format=log_format, log_level="INFO"))
    _handler().setStream(captured)
    _log_secrets()
    output = captured.getvalue()
    assert "connecting to postgresql://user:[REDACTED]@host/db" in output
    assert "calling the provider" in output and "RuntimeError" in output
    for secret in SECRETS:
        assert secret not in output, secret
    assert output.count("[REDACTED]") >= 8


def test_lines_inside_a_request_carry_request_and_trace_ids(
    tmp_path: Path, captured: io.StringIO
) -> None:
    with capture_sink() as sink:
        settings = ops_settings(
            tmp_path / "var", log_format="json", log_level="INFO", otlp_endpoint=sink.url
        )
        running = RunningServer(settings)  # create_app configures logging
        _handler().setStream(captured)

        async def logs() -> dict[str, str | None]:
            structlog.get_logger("ragops.test.route").info("inside the request", step=1)
            logging.getLogger("ragops.test.route").info("stdlib line of the request")
            return {"trace_id": current_trace_id()}

        app_of(running).add_api_route("/test/logs", logs)
        live = running.start()
        try:
            with live.client() as client:
                response = client.get("/test/logs", headers={"X-Request-ID": "log-req-7"})
                assert response.status_code == 200
                trace_id = response.json()["trace_id"]
        finally:
            running.stop()

    lines = [json.loads(line) for line in captured.getvalue().splitlines() if line.strip()]
    mine = [line for line in lines if line.get("request_id") == "log-req-7"]
    events = {line["event"]: line for line in mine}
    assert trace_id and len(trace_id) == 32
    for event in ("inside the request", "stdlib line of the request", "request"):
        assert events[event]["trace_id"] == trace_id, event
    access = events["request"]
    assert access["level"] == "info" and access["logger"] == "ragops.access"
    assert access["method"] == "GET" and access["route"] == "/test/logs"
    assert access["status"] == 200 and access["duration_ms"] >= 0


def _all_patterns(text: str) -> str:
    """Every redaction pattern applied in turn, as `redact_text` did before its pre-check."""
    for pattern, replacement in logmod._PATTERNS:
        text = pattern.sub(replacement, text)
    return text


_PIECES = [
    "postgresql://user:pw@host/db",  # pragma: allowlist secret
    "redis://:secret@h", "://", "Bearer ", "bearer ",
    "BEARER ", "abcdefgh12345678", "sk-", "sk-abcdefghijklmnop1234", "rgo_",
    "rgo_0123456789abcdefgh",
    "api_key=", "API-KEY: ", "apikey=", "x-api-key:", "password=", "passwd:", "pwd=",
    "secret=", "token: ", "authorization=", "routing_key=", "dsn=", '"token": "', "value",
    " ", "=", ":", "@", "/", "ſecret=", "\u212aey", "2026-12-05T22:00:26Z", "POST",
    "/v1/chat", "request", "ÅPI_KEY=x", "apı_key=", "PassW", "RouTing-KEY=",
]  # fmt: skip


@given(st.lists(st.sampled_from(_PIECES), max_size=8), st.text(max_size=20))
@settings(max_examples=600, deadline=None)
def test_the_pre_check_changes_no_redaction(pieces: list[str], noise: str) -> None:
    text = "".join(pieces) + noise
    assert logmod.redact_text(text) == _all_patterns(text)


def test_plain_fields_skip_the_patterns_and_secrets_do_not() -> None:
    for plain in ("request", "POST", "/v1/chat", "2026-12-05T22:00:26.123456Z", "ragops.access"):
        assert logmod._MAY_HOLD_SECRET.search(plain) is None
        assert logmod.redact_text(plain) == plain
    for text in (DB_URL, f"Bearer {BEARER}", API_KEY, f"password={PASSWORD}"):
        assert logmod.redact_text(text) != text and logmod.redact_text(text) == _all_patterns(text)


def _per_field(event_dict: dict[str, Any]) -> dict[str, Any]:
    """Every field redacted on its own with all the patterns, as `_redact` did before it
    checked a whole line at once."""

    def value(key: str, item: Any) -> Any:
        if logmod._SENSITIVE_KEYS.search(key) and item not in (None, "", False):
            return logmod.REDACTED
        if isinstance(item, str):
            return _all_patterns(item)
        if isinstance(item, dict):
            return {k: value(str(k), v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [value(key, v) for v in item]
        return item

    out = {k: value(k, v) if k != "event" else v for k, v in event_dict.items()}
    if isinstance(out.get("event"), str):
        out["event"] = _all_patterns(out["event"])
    return out


_KEYS = ["event", "method", "route", "status", "detail", "api_key", "token", "user", "url"]
_TEXTS = st.lists(st.sampled_from(_PIECES), max_size=4).map("".join) | st.text(max_size=12)
_VALUES = (
    _TEXTS
    | st.integers(-1, 1)
    | st.none()
    | st.booleans()
    | st.dictionaries(st.sampled_from(_KEYS), _TEXTS, max_size=2)
    | st.lists(_TEXTS, max_size=2)
)


@given(st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=6))
@settings(max_examples=600, deadline=None)
def test_a_line_checked_at_once_is_redacted_as_field_by_field(event_dict: dict[str, Any]) -> None:
    expected = _per_field(dict(event_dict))
    assert logmod._redact(None, "info", dict(event_dict)) == expected


@given(st.lists(st.sampled_from(_PIECES), max_size=6), st.text(max_size=12))
@settings(max_examples=600, deadline=None)
def test_the_substring_check_misses_no_match_of_the_pattern(pieces: list[str], noise: str) -> None:
    text = "".join(pieces) + noise
    if logmod._MAY_HOLD_SECRET.search(text) is not None:
        assert logmod._may_hold_secret(text)
    if not text.isascii():  # the pattern itself decides
        assert logmod._may_hold_secret(text) == (logmod._MAY_HOLD_SECRET.search(text) is not None)


def test_a_placeholder_in_a_hint_is_not_redacted_but_a_token_is() -> None:
    """The server's 401 hint reaches the CLI's error line (redacted like a log line) whole:
    "send 'Authorization: Bearer <key>'" read "send 'Authorization: [REDACTED] <key>'"."""
    hint = "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key'"
    assert logmod.redact_text(hint) == hint
    for header in ("Authorization: Bearer abc", "authorization=bearer <key>abc", "token: x"):
        assert "[REDACTED]" in logmod.redact_text(header), header
    assert BEARER not in logmod.redact_text(f"Authorization: Bearer {BEARER}")
