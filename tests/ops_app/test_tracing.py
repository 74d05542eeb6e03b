"""Traces over OTLP/HTTP: with RAGOPS_OTLP_ENDPOINT pointing at a real local HTTP server,
requests produce server spans, SQL spans and the spans of `ragops.observability.tracing.span`,
which reach that server as protobuf exports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from ragops.observability.tracing import current_trace_id, span
from tests.conftest import LiveServer, RunningServer
from tests.ops_app.conftest import app_of, ops_settings
from tests.ops_app.sinks import CaptureSink, Received, capture_sink


def _spans(received: list[Received]) -> list[Any]:
    spans = []
    for post in received:
        request = ExportTraceServiceRequest.FromString(post.body)
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                spans.extend(scope_spans.spans)
    return spans


def _resource_attributes(received: list[Received]) -> dict[str, str]:
    request = ExportTraceServiceRequest.FromString(received[0].body)
    return {a.key: a.value.string_value for a in request.resource_spans[0].resource.attributes}


def test_span_is_a_no_op_without_tracing() -> None:
    # First in the module: no application with tracing is running yet.
    with span("outside.any.app") as current:
        assert current is None
    assert current_trace_id() is None


@pytest.fixture(scope="module")
def sink() -> Iterator[CaptureSink]:
    with capture_sink() as started:
        yield started


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sink: CaptureSink) -> Iterator[LiveServer]:
    data_dir: Path = tmp_path_factory.mktemp("tracing") / "var"
    running = RunningServer(ops_settings(data_dir, otlp_endpoint=sink.url))

    async def traced() -> dict[str, str | None]:
        with span("test.stage", stage="unit") as current:
            assert current is not None
            return {"trace_id": current_trace_id()}

    app_of(running).add_api_route("/test/traced", traced)
    try:
        yield running.start()
    finally:
        running.stop()


def test_requests_export_spans_to_the_collector(server: LiveServer, sink: CaptureSink) -> None:
    with server.client() as client:
        traced = client.get("/test/traced")
        assert traced.status_code == 200
        trace_id = traced.json()["trace_id"]
        assert trace_id and len(trace_id) == 32
        assert client.post("/v1/chat", json={"question": "Where are the spans?"}).status_code == 200
        assert client.get("/healthz").status_code == 200

    def names(received: list[Received]) -> set[str]:
        return {s.name for s in _spans(received)}

    wanted = {"test.stage", "GET /test/traced", "POST /v1/chat"}
    sink.wait_for(lambda _: wanted <= names(sink.posts("/v1/traces")))
    posts = sink.posts("/v1/traces")
    assert all(p.headers["content-type"] == "application/x-protobuf" for p in posts)
    spans = _spans(posts)
    by_name = {s.name: s for s in spans}

    stage = by_name["test.stage"]
    server_span = by_name["GET /test/traced"]
    assert stage.trace_id.hex() == trace_id == server_span.trace_id.hex()
    assert {a.key: a.value.string_value for a in stage.attributes}["stage"] == "unit"
    in_trace = {s.span_id for s in spans if s.trace_id == stage.trace_id}
    assert stage.parent_span_id in in_trace  # a child of the request, not a new trace

    chat_trace = by_name["POST /v1/chat"].trace_id
    sql = [
        s for s in spans if s.trace_id == chat_trace and any("db." in a.key for a in s.attributes)
    ]
    assert sql, "the chat request made no traced SQL"
    assert not any(s.name.startswith("GET /healthz") for s in spans)  # probes are not traced

    resource = _resource_attributes(posts)
    assert resource["service.name"] == "ragops"
    assert resource["deployment.environment"] == "test"
