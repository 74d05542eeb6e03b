"""The exact answer cache on real backends (SQLite with the in-process cache, PostgreSQL with
Redis): repeats are served from it, ingest and delete invalidate it on every instance, tenants
never see each other's answers, fallback answers and follow-ups are not confused with grounded
history-free answers, and a clear works."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import redis

from ragops.chat import service as chat
from ragops.config import Settings
from ragops.db import migrate
from ragops.documents.service import delete_document, ingest_bytes
from ragops.observability import metrics
from ragops.runtime import Runtime
from tests.conftest import REDIS_URL, backend_settings
from tests.fakes.llm import FakeLLMServer

POOL = b"# Connection pool\n\nThe pool keeps five connections open and grows to twenty.\n"
POOL_V2 = b"# Connection pool\n\nThe pool keeps eight connections open and grows to forty.\n"
TIMEOUTS = b"# Timeouts\n\nA request waits thirty seconds for a free connection, then fails.\n"
GARDEN = b"# Tomatoes\n\nTomato plants need six hours of sun a day and deep watering.\n"
QUESTION = "How many connections does the pool keep open?"

CASES = [("sqlite", "memory"), ("postgres", "redis")]


@pytest.fixture(params=CASES, ids=lambda case: f"{case[0]}-{case[1]}")
def cache_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    backend, cache = request.param
    extra = {"redis_url": REDIS_URL} if cache == "redis" else {}
    with backend_settings(backend, tmp_path / "var", **extra) as settings:
        yield settings


@asynccontextmanager
async def started(settings: Settings) -> AsyncIterator[Runtime]:
    await migrate.upgrade(settings)
    runtime = await Runtime.start(settings)
    try:
        yield runtime
    finally:
        await runtime.aclose()


def tenant() -> str:
    """A tenant of this test alone (Redis is shared by every test run)."""
    return f"t{uuid.uuid4().hex[:10]}"


async def ask(
    runtime: Runtime, tenant_id: str, question: str = QUESTION, session_id: str | None = None
) -> chat.ChatResponse:
    return await chat.answer(
        runtime.chat_deps,
        tenant_id=tenant_id,
        question=question,
        session_id=session_id,
        collection=None,
        request_id=uuid.uuid4().hex,
    )


async def ingest(runtime: Runtime, tenant_id: str, source: str, data: bytes) -> str:
    outcome = await ingest_bytes(
        runtime.ingest_deps, tenant_id=tenant_id, collection="default", source=source, data=data
    )
    assert outcome.document is not None
    return outcome.document.id


def lookups(cache: str, result: str) -> float:
    return metrics.CACHE_LOOKUPS.labels(cache, result)._value.get()


async def test_repeat_is_served_from_cache_and_counted(cache_settings: Settings) -> None:
    async with started(cache_settings) as runtime:
        me = tenant()
        await ingest(runtime, me, "pool.md", POOL)
        hits, misses = lookups("exact", "hit"), lookups("exact", "miss")
        first = await ask(runtime, me)
        second = await ask(runtime, me, "  how many CONNECTIONS does the pool keep open ")
        assert (first.cache, second.cache) == ("miss", "hit-exact")
        assert second.answer == first.answer and "five" in second.answer
        assert second.citations == first.citations and second.citations
        assert second.session_id != first.session_id  # a new session, stored as usual
        assert second.timings.retrieve_ms == 0.0
        assert lookups("exact", "hit") - hits == 1
        assert lookups("exact", "miss") - misses == 1


async def test_ingest_and_delete_invalidate(cache_settings: Settings) -> None:
    async with started(cache_settings) as runtime:
        me = tenant()
        pool = await ingest(runtime, me, "pool.md", POOL)
        assert (await ask(runtime, me)).cache == "miss"
        assert (await ask(runtime, me)).cache == "hit-exact"

        await ingest(runtime, me, "pool.md", POOL_V2)  # a new version of the same document
        updated = await ask(runtime, me)
        assert updated.cache == "miss" and "eight" in updated.answer
        assert (await ask(runtime, me)).cache == "hit-exact"

        await ingest(runtime, me, "pool.md", POOL_V2)  # unchanged: nothing to invalidate
        assert (await ask(runtime, me)).cache == "hit-exact"

        await ingest(runtime, me, "garden.md", GARDEN)  # any new document changes the corpus
        assert (await ask(runtime, me)).cache == "miss"

        await delete_document(db=runtime.db, store=runtime.store, tenant_id=me, document_id=pool)
        after_delete = await ask(runtime, me)
        assert after_delete.cache == "miss"
        assert "eight" not in after_delete.answer


async def test_tenants_never_share_answers(cache_settings: Settings) -> None:
    async with started(cache_settings) as runtime:
        first, second = tenant(), tenant()
        await ingest(runtime, first, "pool.md", POOL)
        await ingest(runtime, second, "pool.md", POOL_V2)
        assert "five" in (await ask(runtime, first)).answer
        assert (await ask(runtime, first)).cache == "hit-exact"
        other = await ask(runtime, second)
        assert other.cache == "miss" and "eight" in other.answer and "five" not in other.answer


async def test_fallback_answers_are_not_cached(
    cache_settings: Settings, fake_llm: FakeLLMServer
) -> None:
    settings = cache_settings.model_copy(
        update={"llm_base_url": fake_llm.base_url, "llm_timeout_seconds": 5.0}
    )
    async with started(settings) as runtime:
        me = tenant()
        await ingest(runtime, me, "pool.md", POOL)
        fake_llm.fail_next(500, n=20)
        degraded = await ask(runtime, me)
        assert degraded.fallback_reason is not None and degraded.cache == "miss"
        fake_llm.reset()
        recovered = await ask(runtime, me)
        assert recovered.cache == "miss"  # the fallback was not served from the cache
        assert recovered.mode == "generated" and recovered.fallback_reason is None
        again = await ask(runtime, me)
        assert again.cache == "hit-exact" and again.answer == recovered.answer


async def test_ungrounded_answers_are_not_cached(cache_settings: Settings) -> None:
    async with started(cache_settings) as runtime:
        me = tenant()  # an empty collection: nothing to cite
        assert (await ask(runtime, me)).citations == []
        assert (await ask(runtime, me)).cache == "miss"


async def test_follow_up_is_keyed_on_its_standalone_query(cache_settings: Settings) -> None:
    async with started(cache_settings) as runtime:
        me = tenant()
        await ingest(runtime, me, "pool.md", POOL)
        await ingest(runtime, me, "timeouts.md", TIMEOUTS)
        follow_up = "and how long does a request wait?"
        alone = await ask(runtime, me, follow_up)
        assert (await ask(runtime, me, follow_up)).cache == "hit-exact"

        opening = await ask(runtime, me, QUESTION)
        in_session = await ask(runtime, me, follow_up, session_id=opening.session_id)
        assert in_session.cache == "miss"  # never the history-free entry
        assert in_session.session_id == opening.session_id

        again = await ask(runtime, me, QUESTION)
        repeat = await ask(runtime, me, follow_up, session_id=again.session_id)
        assert repeat.cache == "hit-exact" and repeat.answer == in_session.answer
        assert alone.session_id != repeat.session_id


async def test_clear_by_tenant_and_collection(cache_settings: Settings) -> None:
    async with started(cache_settings) as runtime:
        first, second = tenant(), tenant()
        for who in (first, second):
            await ingest(runtime, who, "pool.md", POOL)
            await ask(runtime, who)
        assert runtime.answers is not None
        result = await runtime.answers.clear(tenant_id=first, collection="default")
        assert result.scopes == 1
        if cache_settings.redis_url is not None:
            assert result.entries_removed >= 1
        assert (await ask(runtime, first)).cache == "miss"
        assert (await ask(runtime, second)).cache == "hit-exact"


async def test_instances_sharing_redis_share_answers_and_invalidation(tmp_path: Path) -> None:
    with backend_settings("postgres", tmp_path / "a", redis_url=REDIS_URL) as settings:
        other = settings.model_copy(update={"data_dir": tmp_path / "b"})
        async with started(settings) as one, started(other) as two:
            me = tenant()
            await ingest(one, me, "pool.md", POOL)
            await ingest(two, me, "pool.md", POOL)  # each instance has its own vector store
            assert (await ask(one, me)).cache == "miss"
            assert (await ask(two, me)).cache == "hit-exact"  # cached by the other instance

            await ingest(two, me, "pool.md", POOL_V2)  # the version lives in the shared database
            assert (await ask(one, me)).cache == "miss"

            raw = redis.Redis.from_url(REDIS_URL)
            try:
                stored = [k for k in raw.scan_iter(match=f"ragops:answers:{me}:*")]
                assert stored and all(raw.ttl(k) > 0 for k in stored)
            finally:
                raw.close()


async def test_a_new_question_is_embedded_once(cache_settings: Settings) -> None:
    async with started(cache_settings) as runtime:
        me = tenant()
        await ingest(runtime, me, "pool.md", POOL)
        hits, misses = lookups("embedding", "hit"), lookups("embedding", "miss")
        assert (await ask(runtime, me, "How many connections stay open, asked once?")).cache == (
            "miss"
        )
        # Embedded for the semantic lookup; retrieval reuses it, and the extractive answerer
        # embeds nothing (it scores the retrieved passages with retrieval's similarities).
        assert lookups("embedding", "miss") - misses == 1
        assert lookups("embedding", "hit") - hits == 1
