"""An LLM stream has an overall deadline: an endpoint that trickles tokens forever (each read
quick) is cut at `total_timeout`, and a first token that never comes at `first_token_timeout`;
the answer then falls back to the extractive answerer."""

from __future__ import annotations

import time

from ragops.providers.llm import ChatMessage, LLMError
from ragops.providers.llm.openai_compat import OpenAICompatibleLLM
from tests.fakes.llm import FakeLLMServer

MESSAGES = [
    ChatMessage("user", '<passage id="1">The pool keeps 5 connections.</passage> How many?')
]


async def test_a_trickling_stream_ends_at_the_total_deadline(fake_llm: FakeLLMServer) -> None:
    llm = OpenAICompatibleLLM(
        base_url=fake_llm.base_url, model="fake-model", timeout=5.0, total_timeout=1.5
    )
    fake_llm.fail_next("trickle", delay=0.1)  # a word every 0.1 s, never finished
    started = time.monotonic()
    deltas: list[str] = []
    try:
        stream = llm.stream(MESSAGES)
        try:
            async for delta in stream:
                deltas.append(delta)
        except LLMError as exc:
            assert "timed out" in str(exc)
        else:
            raise AssertionError("the endless stream was not cut")
    finally:
        await llm.aclose()
    elapsed = time.monotonic() - started
    assert 1.4 < elapsed < 3.0, elapsed
    assert len(deltas) > 5  # it did stream before the deadline


async def test_no_first_token_ends_at_the_first_token_deadline(fake_llm: FakeLLMServer) -> None:
    llm = OpenAICompatibleLLM(
        base_url=fake_llm.base_url,
        model="fake-model",
        timeout=10.0,
        first_token_timeout=1.0,
        total_timeout=30.0,
    )
    fake_llm.fail_next("slow", delay=8.0)
    started = time.monotonic()
    try:
        stream = llm.stream(MESSAGES)
        try:
            async for _ in stream:
                pass
        except LLMError as exc:
            assert "timed out" in str(exc)
        else:
            raise AssertionError("the silent stream was not cut")
    finally:
        await llm.aclose()
    assert time.monotonic() - started < 3.0
