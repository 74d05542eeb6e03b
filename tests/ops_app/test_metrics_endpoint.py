"""`/metrics` over real HTTP: request metrics by route template, build info, and the guard
(loopback only without a token, a bearer token when one is set)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ragops.ops.access import is_loopback
from tests.conftest import LiveServer, RunningServer
from tests.ops_app.conftest import ops_settings

TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    running = RunningServer(ops_settings(tmp_path_factory.mktemp("metrics") / "var"))
    try:
        yield running.start()
    finally:
        running.stop()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = ops_settings(tmp_path_factory.mktemp("guarded") / "var", metrics_token=TOKEN)
    running = RunningServer(settings)
    try:
        yield running.start()
    finally:
        running.stop()


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def _requests(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], **labels: str) -> float:
    return samples.get(("ragops_http_requests_total", frozenset(labels.items())), 0.0)


def test_requests_are_recorded_by_route_template(server: LiveServer) -> None:
    session_id = str(uuid.uuid4())
    with server.client() as client:
        before = _samples(client.get("/metrics").text)
        assert client.get(f"/v1/sessions/{session_id}").status_code == 404
        assert client.get(f"/no/such/{session_id}").status_code == 404
        assert client.post("/v1/chat", json={"question": "Is anyone there?"}).status_code == 200
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    after = _samples(text)
    template = {"method": "GET", "route": "/v1/sessions/{session_id}", "status": "404"}
    assert _requests(after, **template) == _requests(before, **template) + 1
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert _requests(after, **unmatched) == _requests(before, **unmatched) + 1
    chat = {"method": "POST", "route": "/v1/chat", "status": "200"}
    assert _requests(after, **chat) == _requests(before, **chat) + 1
    assert session_id not in text  # never a raw path
    assert 'route="/metrics"' not in text  # the scrape itself is not recorded
    assert (
        after[
            (
                "ragops_http_request_duration_seconds_count",
                frozenset({"method": "POST", "route": "/v1/chat"}.items()),
            )
        ]
        >= 1
    )
    assert ("ragops_http_requests_in_progress", frozenset()) in after
    build = [k for k in after if k[0] == "ragops_build_info"]
    assert len(build) == 1 and dict(build[0][1])["version"]


def test_without_a_token_only_loopback_clients_are_served(server: LiveServer) -> None:
    with server.client() as client:
        assert client.get("/metrics").status_code == 200
        # Through a proxy (uvicorn then takes the client from X-Forwarded-For): refused.
        proxied = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"})
        assert proxied.status_code == 403
        assert proxied.json()["error"]["code"] == "forbidden"
        assert client.get("/metrics", headers={"X-Real-IP": "127.0.0.1"}).status_code == 403


def test_with_a_token_a_bearer_token_is_required(guarded: LiveServer) -> None:
    with guarded.client() as client:
        missing = client.get("/metrics")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"].startswith("Bearer")
        assert TOKEN not in missing.text
        wrong = client.get("/metrics", headers={"Authorization": "Bearer " + TOKEN[:-1] + "x"})
        assert wrong.status_code == 401
        assert client.get("/metrics", headers={"Authorization": TOKEN}).status_code == 401
        good = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert good.status_code == 200
        assert "ragops_http_requests_total" in good.text
        assert 'ragops_auth_failures_total{reason="metrics_token"}' in good.text
        # The console's data is guarded the same way; the probes are not.
        assert client.get("/ops/api/summary").status_code == 401
        summary = client.get("/ops/api/summary", headers={"Authorization": f"Bearer {TOKEN}"})
        assert summary.status_code == 200
        assert client.get("/readyz").status_code == 200
        assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("testclient", False),
        (None, False),
    ],
)
def test_is_loopback(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def _stage(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], stage: str) -> float:
    key = ("ragops_rag_stage_duration_seconds_sum", frozenset({("stage", stage)}))
    return samples.get(key, 0.0)


def test_with_the_semantic_cache_a_question_is_embedded_in_the_cache_lookup_stage(
    server: LiveServer,
) -> None:
    """As docs/observability.md says of `ragops_rag_stage_duration_seconds`: the semantic
    lookup embeds a new question (the embedding memo's one miss), so its time is in
    `cache_lookup`, and the `embed` stage then reads the memo (a hit, next to no time)."""
    body = b"# Kettles\n\nThe green kettle boils a litre of water in ninety seconds.\n"
    memo = "ragops_cache_lookups_total"
    with server.client() as client:
        upload = client.post("/v1/documents", files={"files": ("k.md", body, "text/markdown")})
        assert upload.status_code == 200, upload.text
        before = _samples(client.get("/metrics").text)
        asked = client.post("/v1/chat", json={"question": "How fast does the green kettle boil?"})
        assert asked.status_code == 200 and asked.json()["cache"] == "miss", asked.text
        after = _samples(client.get("/metrics").text)

    def delta(name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta(memo, cache="embedding", result="miss") == 1
    assert delta(memo, cache="embedding", result="hit") >= 1
    embed = _stage(after, "embed") - _stage(before, "embed")
    lookup = _stage(after, "cache_lookup") - _stage(before, "cache_lookup")
    assert embed < lookup, (embed, lookup)
