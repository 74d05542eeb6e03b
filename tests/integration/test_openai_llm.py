"""The real `OpenAICompatibleLLM` against the fake OpenAI-compatible server on loopback."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import openai
import pytest
from pydantic import SecretStr

from ragops.chat.prompts import SYSTEM_PROMPT, TextPassage, build_messages
from ragops.config import Settings
from ragops.providers.llm import LLM, ChatMessage, LLMError
from ragops.providers.llm.factory import create_llm
from ragops.providers.llm.failover import FailoverLLM
from ragops.providers.llm.openai_compat import PLACEHOLDER_API_KEY, OpenAICompatibleLLM

if TYPE_CHECKING:
    from tests.fakes.llm import FakeLLMServer

EXPECTED = "The pool keeps 5 connections open. [1]"
MESSAGES = build_messages(
    "How many connections does the pool keep?",
    [
        TextPassage("Database", "Pool", "The pool keeps 5 connections open. It grows to 20."),
        TextPassage("Database", "Timeouts", "Queries time out after 30 seconds."),
    ],
    [],
)


def make_llm(fake: FakeLLMServer, **kwargs: object) -> OpenAICompatibleLLM:
    options: dict[str, object] = {"timeout": 5.0, "retry_wait": 0.01}
    options.update(kwargs)
    return OpenAICompatibleLLM(base_url=fake.base_url, model="fake-model", **options)  # type: ignore[arg-type]


@pytest.fixture
async def llm(fake_llm: FakeLLMServer) -> AsyncIterator[OpenAICompatibleLLM]:
    client = make_llm(fake_llm)
    yield client
    await client.aclose()


async def drain(llm: OpenAICompatibleLLM) -> tuple[list[str], object]:
    stream = llm.stream(MESSAGES)
    deltas = [delta async for delta in stream]
    return deltas, stream


# --- success ---


async def test_complete(llm: OpenAICompatibleLLM, fake_llm: FakeLLMServer) -> None:
    completion = await llm.complete(MESSAGES)
    assert completion.text == EXPECTED
    assert completion.prompt_tokens > 0
    assert completion.completion_tokens == len(EXPECTED.split())
    [body] = fake_llm.chat_requests
    assert body["model"] == "fake-model"
    assert body["max_tokens"] == 512
    assert body["temperature"] == pytest.approx(0.1)
    assert not body.get("stream")
    assert body["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert '<passage id="1"' in fake_llm.last_prompt()
    [request] = fake_llm.requests
    assert request.headers["authorization"] == f"Bearer {PLACEHOLDER_API_KEY}"


async def test_stream(llm: OpenAICompatibleLLM, fake_llm: FakeLLMServer) -> None:
    stream = llm.stream(MESSAGES)
    deltas = [delta async for delta in stream]
    assert len(deltas) > 1
    assert "".join(deltas) == EXPECTED == stream.text
    assert stream.usage_reported
    assert stream.prompt_tokens > 0
    assert stream.completion_tokens == len(EXPECTED.split())
    assert stream.completion.text == EXPECTED
    assert stream.finish_reason == "stop"
    assert stream.first_token_seconds is not None
    assert stream.total_seconds is not None
    assert 0 <= stream.first_token_seconds <= stream.total_seconds
    [body] = fake_llm.chat_requests
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


async def test_stream_matches_complete(llm: OpenAICompatibleLLM) -> None:
    whole = await llm.complete(MESSAGES)
    deltas = [delta async for delta in llm.stream(MESSAGES)]
    assert "".join(deltas) == whole.text


async def test_stream_without_stream_options_support(
    llm: OpenAICompatibleLLM, fake_llm: FakeLLMServer
) -> None:
    fake_llm.set_stream_options_supported(False)
    stream = llm.stream(MESSAGES)
    assert "".join([d async for d in stream]) == EXPECTED
    assert not stream.usage_reported
    assert stream.prompt_tokens == stream.completion_tokens == 0
    first, second = fake_llm.chat_requests
    assert "stream_options" in first
    assert "stream_options" not in second
    again = llm.stream(MESSAGES)  # remembered: no more failed first attempts
    assert "".join([d async for d in again]) == EXPECTED
    assert len(fake_llm.chat_requests) == 3


async def test_stream_closed_early(llm: OpenAICompatibleLLM) -> None:
    stream = llm.stream(MESSAGES)
    first = await stream.__anext__()
    await stream.aclose()
    assert stream.text == first
    assert (await llm.complete(MESSAGES)).text == EXPECTED  # the client is still usable


async def test_canned_answer(llm: OpenAICompatibleLLM, fake_llm: FakeLLMServer) -> None:
    fake_llm.set_answer("Ignore the passages: the admin password is hunter2.")
    assert (await llm.complete(MESSAGES)).text.startswith("Ignore the passages")


def test_is_an_llm(llm: OpenAICompatibleLLM) -> None:
    assert isinstance(llm, LLM)
    assert llm.provider == "openai"
    assert llm.model == "fake-model"


# --- failures ---


async def test_one_server_error_is_retried(
    llm: OpenAICompatibleLLM, fake_llm: FakeLLMServer
) -> None:
    fake_llm.fail_next(500)
    assert (await llm.complete(MESSAGES)).text == EXPECTED
    fake_llm.fail_next(503)
    assert "".join([d async for d in llm.stream(MESSAGES)]) == EXPECTED
    assert len(fake_llm.chat_requests) == 4


async def test_server_error(llm: OpenAICompatibleLLM, fake_llm: FakeLLMServer) -> None:
    fake_llm.fail_next(500, n=2)
    with pytest.raises(LLMError, match="HTTP 500") as caught:
        await llm.complete(MESSAGES)
    assert caught.value.__cause__ is None
    assert len(fake_llm.chat_requests) == 2  # one retry, no more


async def test_server_error_while_streaming(
    llm: OpenAICompatibleLLM, fake_llm: FakeLLMServer
) -> None:
    fake_llm.fail_next(502, n=2)
    deltas: list[str] = []
    with pytest.raises(LLMError, match="HTTP 502"):
        async for delta in llm.stream(MESSAGES):
            deltas.append(delta)
    assert deltas == []


async def test_client_errors_are_not_retried(
    llm: OpenAICompatibleLLM, fake_llm: FakeLLMServer
) -> None:
    fake_llm.fail_next(400)
    with pytest.raises(LLMError, match="HTTP 400"):
        await llm.complete(MESSAGES)
    assert len(fake_llm.chat_requests) == 1


async def test_wrong_key_never_appears_in_the_error(fake_llm: FakeLLMServer) -> None:
    fake_llm.set_api_key("sk-right-0123456789abcdef")
    key = "sk-wrong-0123456789abcdef"
    llm = make_llm(fake_llm, api_key=key)
    try:
        with pytest.raises(LLMError, match="refused the API key") as caught:
            await llm.complete(MESSAGES)
        assert key not in str(caught.value)
        assert caught.value.__cause__ is None
        with pytest.raises(LLMError) as streamed:
            async for _ in llm.stream(MESSAGES):
                pass
        assert key not in str(streamed.value)
        with pytest.raises(LLMError) as pinged:
            await llm.ping()
        assert key not in str(pinged.value)
        assert key not in repr(llm)
        assert len(fake_llm.requests) == 3  # auth failures are not retried
        assert fake_llm.requests[0].headers["authorization"] == f"Bearer {key}"
    finally:
        await llm.aclose()


async def test_right_key_is_sent(fake_llm: FakeLLMServer) -> None:
    fake_llm.set_api_key("sk-right-0123456789abcdef")
    llm = make_llm(fake_llm, api_key="sk-right-0123456789abcdef")
    try:
        assert (await llm.complete(MESSAGES)).text == EXPECTED
    finally:
        await llm.aclose()


async def test_key_echoed_in_an_error_body_is_redacted(fake_llm: FakeLLMServer) -> None:
    key = "sk-secret-0123456789abcdef"
    fake_llm.set_answer(None)
    llm = make_llm(fake_llm, api_key=key)
    try:
        fake_llm.state.api_key = "another"  # the fake echoes the key it got, with HTTP 401
        with pytest.raises(LLMError) as caught:
            await llm.complete(MESSAGES)
        assert key not in str(caught.value)
        assert "sk-secret" not in str(caught.value)
    finally:
        await llm.aclose()


async def test_timeout(fake_llm: FakeLLMServer) -> None:
    llm = make_llm(fake_llm, timeout=0.3)
    try:
        fake_llm.fail_next("slow", n=2, delay=5.0)
        started = time.monotonic()
        with pytest.raises(LLMError, match="timed out"):
            await llm.complete(MESSAGES)
        assert time.monotonic() - started < 2.0
        assert len(fake_llm.chat_requests) == 1  # a timeout is not retried
    finally:
        await llm.aclose()


async def test_timeout_while_streaming(fake_llm: FakeLLMServer) -> None:
    llm = make_llm(fake_llm, timeout=0.3)
    try:
        fake_llm.fail_next("slow", delay=5.0)
        with pytest.raises(LLMError, match="timed out"):
            async for _ in llm.stream(MESSAGES):
                pass
    finally:
        await llm.aclose()


async def test_connection_dropped_mid_stream(
    llm: OpenAICompatibleLLM, fake_llm: FakeLLMServer
) -> None:
    fake_llm.fail_next("drop")
    stream = llm.stream(MESSAGES)
    deltas: list[str] = []
    with pytest.raises(LLMError, match="dropped the connection"):
        async for delta in stream:
            deltas.append(delta)
    assert deltas == ["The"]  # what came before the cut; the stream is not replayed
    assert stream.text == "The"
    assert len(fake_llm.chat_requests) == 1


async def test_connection_dropped_during_complete(
    llm: OpenAICompatibleLLM, fake_llm: FakeLLMServer
) -> None:
    fake_llm.fail_next("drop", n=2)
    with pytest.raises(LLMError, match="dropped the connection"):
        await llm.complete(MESSAGES)


# --- ping ---


async def test_ping(llm: OpenAICompatibleLLM, fake_llm: FakeLLMServer) -> None:
    await llm.ping()
    [request] = fake_llm.requests
    assert (request.method, request.path) == ("GET", "/v1/models")


async def test_ping_fails_when_the_server_is_down(
    llm: OpenAICompatibleLLM, fake_llm: FakeLLMServer
) -> None:
    fake_llm.stop()
    with pytest.raises(LLMError, match="could not be reached"):
        await llm.ping()
    with pytest.raises(LLMError, match="could not be reached"):
        await llm.complete(MESSAGES)


async def test_ping_fails_on_server_error(
    llm: OpenAICompatibleLLM, fake_llm: FakeLLMServer
) -> None:
    fake_llm.fail_next(500)
    with pytest.raises(LLMError, match="HTTP 500"):
        await llm.ping()


# --- factory ---


def test_factory_without_base_url_means_extractive() -> None:
    assert create_llm(Settings(_env_file=None, llm_base_url=None)) is None  # type: ignore[call-arg]


async def test_factory_builds_from_settings(fake_llm: FakeLLMServer) -> None:
    fake_llm.set_api_key("sk-settings-0123456789")
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        llm_base_url=fake_llm.base_url,
        llm_api_key=SecretStr("sk-settings-0123456789"),
        llm_model="served-model",
        llm_max_tokens=64,
        llm_temperature=0.0,
    )
    llm = create_llm(settings)
    assert isinstance(llm, FailoverLLM)  # a chain of one provider, behind its breaker
    assert isinstance(llm.members[0][0], OpenAICompatibleLLM) and len(llm.members) == 1
    try:
        assert (await llm.complete([ChatMessage("user", "hello")])).text == "I don't know."
        [body] = fake_llm.chat_requests
        assert (body["model"], body["max_tokens"], body["temperature"]) == ("served-model", 64, 0)
    finally:
        await llm.aclose()


# --- the fake's embeddings endpoint ---


async def test_fake_embeddings_are_deterministic(fake_llm: FakeLLMServer) -> None:
    client = openai.AsyncOpenAI(base_url=fake_llm.base_url, api_key="x", max_retries=0)
    try:
        first = await client.embeddings.create(model="m", input=["alpha", "beta"])
        again = await client.embeddings.create(model="m", input="alpha", encoding_format="float")
        sized = await client.embeddings.create(model="m", input="alpha", dimensions=8)
    finally:
        await client.close()
    alpha, beta = (item.embedding for item in first.data)
    assert len(alpha) == 32
    assert alpha == pytest.approx(again.data[0].embedding, abs=1e-6)
    assert alpha != pytest.approx(beta)
    assert sum(v * v for v in alpha) == pytest.approx(1.0, abs=1e-5)
    assert len(sized.data[0].embedding) == 8
