"""LLM failover against two fake OpenAI-compatible servers: the second provider stands in
when the first fails, the first one's circuit opens and is probed again later, and when both
fail the extractive answerer answers; every fallback answer says it is degraded (body,
`X-Degraded` header, metric) and `GET /v1/status` tells which component is affected."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from tests.conftest import LiveServer, RunningServer, make_settings
from tests.fakes.llm import FakeLLMServer

DOC = b"# Pool\n\nThe database pool keeps five connections open and grows to twenty.\n"
QUESTION = {"question": "How many connections does the database pool keep open?"}


@pytest.fixture
def second_llm() -> Iterator[FakeLLMServer]:
    server = FakeLLMServer(model="backup-model").start()
    try:
        yield server
    finally:
        server.stop()


def _degraded_total(reason: str) -> float:
    value = REGISTRY.get_sample_value("ragops_degraded_responses_total", {"reason": reason})
    return value or 0.0


def _components(client: httpx.Client) -> dict[str, str]:
    response = client.get("/v1/status", headers={"Authorization": ""})
    assert response.status_code == 200, response.text
    body = response.json()
    return {"overall": body["status"], **{c["name"]: c["status"] for c in body["components"]}}


def _circuit(client: httpx.Client, provider: str) -> tuple[float, float]:
    """The provider's `ragops_llm_circuit_state` and its open transitions, as /metrics shows."""
    state = opened = -1.0
    for line in client.get("/metrics").text.splitlines():
        if f'provider="{provider}"' not in line or line.startswith("#"):
            continue
        if line.startswith("ragops_llm_circuit_state{"):
            state = float(line.rsplit(" ", 1)[1])
        elif line.startswith("ragops_llm_circuit_transitions_total{") and 'state="open"' in line:
            opened = float(line.rsplit(" ", 1)[1])
    return state, opened


def _serve(tmp_path: Path, first: FakeLLMServer, second: FakeLLMServer) -> RunningServer:
    settings = make_settings(
        tmp_path / "var",
        llm_base_url=first.base_url,
        llm_model="fake-model",
        llm_timeout_seconds=2.0,
        llm_fallbacks=[{"base_url": second.base_url, "model": "backup-model"}],
        llm_circuit_failures=2,
        llm_circuit_reset_seconds=2.0,
        readiness_cache_seconds=0.0,
        dependency_check_seconds=0.0,
        # the status checks are not what is tested: a loaded machine must not make them slow
        readiness_timeout_seconds=10.0,
        readiness_slow_ms=10_000.0,
        rate_limit_chat="1000/minute",
        rate_limit_per_ip="1000/minute",
        answer_cache=False,  # the same question is asked again and again through a changing chain
    )
    return RunningServer(settings)


def test_failover_circuit_breaker_and_status(
    tmp_path: Path, fake_llm: FakeLLMServer, second_llm: FakeLLMServer
) -> None:
    running = _serve(tmp_path, fake_llm, second_llm)
    live: LiveServer = running.start()
    try:
        with live.client() as client:
            upload = client.post(
                "/v1/documents", files={"files": ("pool.md", DOC, "text/markdown")}
            )
            assert upload.status_code == 200, upload.text

            healthy = client.post("/v1/chat", json=QUESTION)
            assert healthy.status_code == 200 and healthy.json()["degraded"] is False
            assert "X-Degraded" not in healthy.headers
            assert _components(client)["overall"] == "operational"
            first = f"127.0.0.1:{fake_llm.port}/fake-model"
            state, opened_before = _circuit(client, first)
            assert state == 0 and opened_before >= 0, "circuit series missing from /metrics"

            # The first provider fails: the second one answers, the answer says so.
            before = _degraded_total("llm_failover")
            fake_llm.fail_next(500, n=100)
            served = client.post("/v1/chat", json=QUESTION)
            body = served.json()
            assert served.status_code == 200 and body["mode"] == "generated"
            assert body["degraded"] is True and body["fallback_reason"].startswith("llm_failover")
            assert served.headers["X-Degraded"] == "llm_failover"
            assert second_llm.chat_requests, "the fallback provider was not asked"
            assert _degraded_total("llm_failover") == before + 1

            # A second failure opens the first provider's circuit: it is not called any more.
            client.post("/v1/chat", json=QUESTION)
            asked = len(fake_llm.chat_requests)
            again = client.post("/v1/chat", json={**QUESTION, "stream": False})
            assert again.json()["degraded"] is True
            assert len(fake_llm.chat_requests) == asked  # skipped: circuit open
            assert _circuit(client, first) == (2, opened_before + 1)  # what the alerts read
            status = _components(client)
            assert status["answer_generation"] == "degraded" and status["overall"] == "degraded"

            # Both fail: the extractive answerer is the last resort.
            second_llm.fail_next(500, n=100)
            last = client.post("/v1/chat", json=QUESTION)
            assert last.status_code == 200 and last.json()["mode"] == "extractive"
            assert last.headers["X-Degraded"] == "llm_unavailable"
            client.post("/v1/chat", json=QUESTION)  # opens the second circuit too
            assert _components(client)["answer_generation"] == "down"

            # Both recover: after the reset wait one probe closes the first circuit.
            fake_llm.reset()
            second_llm.reset()
            time.sleep(2.2)
            recovered = client.post("/v1/chat", json=QUESTION)
            assert recovered.json()["degraded"] is False, recovered.text
            assert "X-Degraded" not in recovered.headers
            assert len(fake_llm.chat_requests) == 1
            assert _circuit(client, first)[0] == 0
    finally:
        running.stop()


def test_streamed_answers_fail_over_before_the_first_token(
    tmp_path: Path, fake_llm: FakeLLMServer, second_llm: FakeLLMServer
) -> None:
    running = _serve(tmp_path, fake_llm, second_llm)
    live = running.start()
    try:
        with live.client() as client:
            client.post("/v1/documents", files={"files": ("pool.md", DOC, "text/markdown")})
            fake_llm.fail_next(503, n=2)  # the request and its one retry
            with client.stream("POST", "/v1/chat", json={**QUESTION, "stream": True}) as events:
                text = "".join(events.iter_text())
            assert "event: done" in text and '"degraded":true' in text.replace(" ", "")
            assert "llm_failover" in text and "event: reset" not in text
    finally:
        running.stop()


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_llm_metrics_name_the_provider_of_each_call(
    tmp_path: Path, fake_llm: FakeLLMServer, second_llm: FakeLLMServer
) -> None:
    """`ragops_llm_requests_total`, `_tokens_total` and `_time_to_first_token_seconds` carry
    the provider as the circuit metrics do (host/model): a failed first provider counts an
    error under its name, the fallback that answered counts the call, tokens and first token
    under its own (every call was counted as provider "openai", one "ok" per failed-over
    answer, so *LLM calls by outcome* never showed the first provider failing)."""
    running = _serve(tmp_path, fake_llm, second_llm)
    live = running.start()
    first = f"127.0.0.1:{fake_llm.port}/fake-model"
    second = f"127.0.0.1:{second_llm.port}/backup-model"
    try:
        with live.client() as client:
            client.post("/v1/documents", files={"files": ("pool.md", DOC, "text/markdown")})
            calls = "ragops_llm_requests_total"
            ttft = "ragops_llm_time_to_first_token_seconds_count"
            # the registry is the process's: count from here (an earlier test may have used
            # the same ports)
            before = {
                "first error": _sample(calls, provider=first, outcome="error"),
                "first ok": _sample(calls, provider=first, outcome="ok"),
                "second ok": _sample(calls, provider=second, outcome="ok"),
                "openai ok": _sample(calls, provider="openai", outcome="ok"),
                "second out": _sample("ragops_llm_tokens_total", provider=second, direction="out"),
                "first ttft": _sample(ttft, provider=first),
            }
            fake_llm.fail_next(400, n=1)  # not retried: one failed call
            served = client.post("/v1/chat", json=QUESTION)
            assert served.headers["X-Degraded"] == "llm_failover", served.text
            assert _sample(calls, provider=first, outcome="error") == before["first error"] + 1
            assert _sample(calls, provider=second, outcome="ok") == before["second ok"] + 1
            assert _sample(calls, provider="openai", outcome="ok") == before["openai ok"]
            tokens = _sample("ragops_llm_tokens_total", provider=second, direction="out")
            assert tokens > before["second out"]

            fake_llm.reset()  # the first provider answers again; streamed this time
            with client.stream("POST", "/v1/chat", json={**QUESTION, "stream": True}) as events:
                assert "event: done" in "".join(events.iter_text())
            assert _sample(calls, provider=first, outcome="ok") == before["first ok"] + 1
            assert _sample(ttft, provider=first) == before["first ttft"] + 1
    finally:
        running.stop()
