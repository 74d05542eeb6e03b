"""The access line written directly (`observability.access_line`) is the line the standard
logging chain renders for the same event, byte for byte but its time stamp (JSON and console),
with secrets in its fields redacted; nothing below its level is written; and wherever something
else would see the record (another handler, a patched `callHandlers` as Sentry's), the line
goes the standard way and that something sees it."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import structlog

from ragops.observability import access_line
from ragops.observability.access_line import DirectLogger
from ragops.observability.context import request_id_var, tenant_id_var
from ragops.observability.logging import configure_logging, line_chain
from tests.ops_app.conftest import ops_settings

API_KEY = "sk-accessplanted0123456789abcdef"  # pragma: allowlist secret
BEARER = "accessbearertoken0123456789"  # pragma: allowlist secret
PASSWORD = "access-planted-password"  # pragma: allowlist secret
DB_SECRET = "dbsecret-access-42"  # pragma: allowlist secret
SECRETS = (API_KEY, BEARER, PASSWORD, DB_SECRET)
NAME = "ragops.test.access"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"  # pragma: allowlist secret
_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def _fields() -> dict[str, Any]:
    return {
        "method": "POST",
        "route": "/v1/chat",
        "status": 200,
        "duration_ms": 12.34,
        "request_id": "req-direct-1",
        "api_key": API_KEY,
        "detail": f"password={PASSWORD} sent with Authorization: Bearer {BEARER}",
        "headers": {"Authorization": f"Bearer {BEARER}"},
        "url": f"postgresql://user:{DB_SECRET}@host/db",
    }


@pytest.fixture
def buffer(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """The real setup at the level and format the test's parameters name (INFO and JSON by
    default), its handler writing to a buffer."""
    level, log_format = getattr(request, "param", ("INFO", "json"))
    configure_logging(ops_settings(tmp_path, log_format=log_format, log_level=level))
    chain = line_chain()
    assert chain is not None
    stream = io.StringIO()
    chain.handler.setStream(stream)
    try:
        yield stream
    finally:
        chain.handler.setStream(io.StringIO())
        request_id_var.set(None)


@contextmanager
def served() -> Iterator[None]:
    """The conditions of a served process, where the direct way is taken: the ragops handler
    the root's only one (pytest's capture handlers, added around each test, set aside) and
    standard `callHandlers` (Sentry's patch, if an earlier test's client set it, set aside)."""
    chain = line_chain()
    assert chain is not None
    root = logging.getLogger()
    saved = root.handlers
    patched = logging.Logger.callHandlers
    root.handlers = [chain.handler]
    logging.Logger.callHandlers = access_line._CALL_HANDLERS  # type: ignore[method-assign]
    try:
        yield
    finally:
        logging.Logger.callHandlers = patched  # type: ignore[method-assign]
        root.handlers = saved


def _direct_taken(level: int = logging.INFO) -> bool:
    chain = line_chain()
    assert chain is not None
    return access_line._direct(logging.getLogger(NAME), chain, level)


def _written(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


@pytest.mark.parametrize("buffer", [("INFO", "json"), ("INFO", "console")], indirect=True)
def test_the_direct_line_is_the_standard_line(buffer: io.StringIO) -> None:
    request_id_var.set("req-direct-1")
    with structlog.contextvars.bound_contextvars(trace_id=TRACE_ID):
        with served():
            assert _direct_taken()
            DirectLogger(NAME).info("request", **_fields())
        structlog.get_logger(NAME).info("request", **_fields())
    direct, standard = _written(buffer)
    assert _STAMP.search(direct) and _STAMP.search(standard)
    assert _STAMP.sub("<time>", direct) == _STAMP.sub("<time>", standard)
    for secret in SECRETS:
        assert secret not in direct, secret
    assert direct.count("[REDACTED]") >= 4
    assert TRACE_ID in direct and "req-direct-1" in direct


def test_the_json_line_keeps_keys_order_and_types(buffer: io.StringIO) -> None:
    request_id_var.set("req-direct-1")
    with served():
        assert _direct_taken()
        DirectLogger(NAME).info("request", method="GET", route="/v1/x", status=404, duration_ms=0.5)
    line = json.loads(_written(buffer)[0])
    assert list(line) == [
        "method", "route", "status", "duration_ms", "event",
        "level", "logger", "timestamp", "request_id",
    ]  # fmt: skip
    assert line["status"] == 404 and line["duration_ms"] == 0.5
    assert line["level"] == "info" and line["logger"] == NAME


@pytest.mark.parametrize("buffer", [("WARNING", "json")], indirect=True)
def test_nothing_below_the_level_is_written(buffer: io.StringIO) -> None:
    direct = DirectLogger(NAME)
    with served():
        assert _direct_taken(logging.WARNING)
        direct.info("request", status=200)
        assert buffer.getvalue() == ""
        direct.warning("request shed", status=503)
        assert [json.loads(line)["level"] for line in _written(buffer)] == ["warning"]
        logging.getLogger(NAME).setLevel(logging.ERROR)
        try:
            direct.warning("request shed", status=503)
        finally:
            logging.getLogger(NAME).setLevel(logging.NOTSET)
    assert len(_written(buffer)) == 1


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_another_handler_gets_the_line_the_standard_way(buffer: io.StringIO) -> None:
    kept = _Kept()
    logging.getLogger("ragops.test").addHandler(kept)
    try:
        with served():
            assert not _direct_taken()
            DirectLogger(NAME).info("request", api_key=API_KEY)
    finally:
        logging.getLogger("ragops.test").removeHandler(kept)
    assert [r.name for r in kept.records] == [NAME]
    (line,) = _written(buffer)
    assert json.loads(line)["api_key"] == "[REDACTED]"


def test_a_patched_call_handlers_sees_the_line(buffer: io.StringIO) -> None:
    seen: list[str] = []
    standard = access_line._CALL_HANDLERS

    def patched(self: logging.Logger, record: logging.LogRecord) -> None:
        seen.append(record.name)  # as Sentry's logging integration makes breadcrumbs
        standard(self, record)

    with served():
        logging.Logger.callHandlers = patched  # type: ignore[method-assign]
        assert not _direct_taken()
        DirectLogger(NAME).info("request", status=200)
    assert seen == [NAME] and len(_written(buffer)) == 1


def test_the_documented_access_line_has_the_keys_of_a_served_request(
    buffer: io.StringIO,
) -> None:
    """docs/observability.md shows the access line of an authenticated, traced request with
    its keys in order: that is the line the service writes (tenant and trace ids included)."""
    doc = (Path(__file__).resolve().parents[3] / "docs" / "observability.md").read_text()
    section = doc.split("Each request also writes one access line", 1)[1]
    documented = json.loads(re.search(r"```json\n(\{.*?\})\n```", section, re.S).group(1))  # type: ignore[union-attr]
    request_id_var.set("4f0c")
    tenant_id_var.set("default")
    try:
        with structlog.contextvars.bound_contextvars(trace_id=TRACE_ID), served():
            assert _direct_taken()
            DirectLogger("ragops.access").info(
                "request",
                method="POST",
                route="/v1/chat",
                status=200,
                duration_ms=412.7,
                request_id="4f0c",
            )
    finally:
        tenant_id_var.set(None)
    line = json.loads(_written(buffer)[0])
    assert list(documented) == list(line)
