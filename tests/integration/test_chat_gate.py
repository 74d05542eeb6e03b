"""The chat gate on a real runtime: its size comes from settings (0 = none), and a question
waiting for an LLM does not hold a slot, so a slow provider cannot stall other questions."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

from ragops.chat import outcome
from ragops.chat import service as chat
from ragops.db import migrate
from ragops.documents.service import ingest_bytes
from ragops.runtime import Runtime
from tests.conftest import make_settings
from tests.fakes.llm import FakeLLMServer

DOC = b"# Connection pool\n\nThe pool keeps five connections open and grows to twenty.\n"


async def test_gate_size_comes_from_settings(tmp_path: Path) -> None:
    for size, expected in ((3, 3), (0, None)):
        settings = make_settings(tmp_path / f"v{size}", chat_concurrency=size)
        await migrate.upgrade(settings)
        runtime = await Runtime.start(settings)
        try:
            gate = runtime.chat_deps.gate
            assert (gate._value if gate is not None else None) == expected
        finally:
            await runtime.aclose()


async def test_waiting_for_the_llm_holds_no_slot(tmp_path: Path, fake_llm: FakeLLMServer) -> None:
    settings = make_settings(
        tmp_path / "var",
        chat_concurrency=1,
        llm_base_url=fake_llm.base_url,
        llm_timeout_seconds=30.0,
        answer_cache=False,
    )
    await migrate.upgrade(settings)
    runtime = await Runtime.start(settings)
    try:
        tenant = "t1"
        await ingest_bytes(
            runtime.ingest_deps, tenant_id=tenant, collection="default", source="p.md", data=DOC
        )
        fake_llm.fail_next("slow", n=2, delay=3.0)
        asked = len(fake_llm.chat_requests)
        started = time.monotonic()

        async def ask(question: str) -> chat.ChatResponse:
            return await chat.answer(
                runtime.chat_deps,
                tenant_id=tenant,
                question=question,
                session_id=None,
                collection=None,
                request_id=uuid.uuid4().hex,
            )

        both = asyncio.gather(
            ask("How many connections does the pool keep open?"),
            ask("How far does the pool grow?"),
        )
        while len(fake_llm.chat_requests) < asked + 2 and time.monotonic() - started < 2.5:
            await asyncio.sleep(0.05)
        # Both questions reached the provider while the first was still waiting for it.
        assert len(fake_llm.chat_requests) == asked + 2
        answers = await both
        assert all(a.mode == "generated" for a in answers)
    finally:
        await runtime.aclose()


async def test_an_exact_cache_hit_needs_no_slot(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "var", chat_concurrency=1)
    await migrate.upgrade(settings)
    runtime = await Runtime.start(settings)
    try:
        tenant = "t1"
        await ingest_bytes(
            runtime.ingest_deps, tenant_id=tenant, collection="default", source="p.md", data=DOC
        )

        async def ask(question: str) -> chat.ChatResponse:
            return await chat.answer(
                runtime.chat_deps,
                tenant_id=tenant,
                question=question,
                session_id=None,
                collection=None,
                request_id=uuid.uuid4().hex,
            )

        first = await ask("How many connections does the pool keep open?")
        assert first.cache == "miss"
        gate = runtime.chat_deps.gate
        assert gate is not None
        async with gate:  # the only slot is taken, as by a question being computed
            again = await asyncio.wait_for(ask("how many connections does the pool keep open"), 5)
            assert again.cache == "hit-exact"
            assert again.answer == first.answer
            new = asyncio.ensure_future(ask("How far does the pool grow?"))
            await asyncio.sleep(0.5)
            assert not new.done()  # a question to compute waits for the slot
        assert (await asyncio.wait_for(new, 30)).cache == "miss"
    finally:
        await runtime.aclose()


async def test_a_conversation_sent_whole_waits_for_a_slot_too(tmp_path: Path) -> None:
    """The OpenAI-compatible route's steps (`prepare_conversation`, then `generate`) are held
    by the same gate: with its only slot taken, a question to compute waits; a cached one
    does not."""
    settings = make_settings(tmp_path / "var", chat_concurrency=1)
    await migrate.upgrade(settings)
    runtime = await Runtime.start(settings)
    try:
        tenant = "t1"
        await ingest_bytes(
            runtime.ingest_deps, tenant_id=tenant, collection="default", source="p.md", data=DOC
        )
        deps = runtime.chat_deps

        async def complete(question: str) -> chat.Generated:
            prepared = await chat.prepare_conversation(
                deps, tenant_id=tenant, question=question, history=[], collection=None
            )
            generated = await chat.generate(deps, prepared)
            await outcome.remember(
                deps,
                tenant_id=tenant,
                prepared=prepared,
                generated=generated,
                citations=outcome.answer_citations(deps, prepared, generated),
            )
            return generated

        first = await complete("How many connections does the pool keep open?")
        assert "five" in first.text
        assert deps.gate is not None
        async with deps.gate:
            again = await asyncio.wait_for(
                complete("How many connections does the pool keep open?"), 5
            )
            assert again.text == first.text
            new = asyncio.ensure_future(complete("How far does the pool grow?"))
            await asyncio.sleep(0.5)
            assert not new.done()  # waits for the slot, as /v1/chat does
        assert "twenty" in (await asyncio.wait_for(new, 30)).text
    finally:
        await runtime.aclose()
