"""The semantic answer cache on real backends: a paraphrase is served the cached answer (and
across instances sharing Redis), a near-miss is not, follow-ups never use it, a tenant never
sees another's entries, and entries expire at a fixed time that hits do not extend."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from ragops.config import Settings
from tests.conftest import REDIS_URL, backend_settings
from tests.integration.test_answer_cache import (
    CASES,
    POOL,
    ask,
    ingest,
    lookups,
    started,
    tenant,
)

PARAPHRASE = "How many connections are kept open by the pool?"
NEAR_MISS = "How many connections does the pool keep closed?"


@pytest.fixture(params=CASES, ids=lambda case: f"{case[0]}-{case[1]}")
def cache_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    backend, cache = request.param
    extra = {"redis_url": REDIS_URL} if cache == "redis" else {}
    with backend_settings(backend, tmp_path / "var", **extra) as settings:
        yield settings


async def test_paraphrase_is_served_and_near_miss_is_not(cache_settings: Settings) -> None:
    async with started(cache_settings) as runtime:
        me = tenant()
        await ingest(runtime, me, "pool.md", POOL)
        first = await ask(runtime, me)
        hits = lookups("semantic", "hit")
        paraphrased = await ask(runtime, me, PARAPHRASE)
        assert paraphrased.cache == "hit-semantic"
        assert paraphrased.answer == first.answer and paraphrased.citations == first.citations
        assert lookups("semantic", "hit") - hits == 1
        assert (await ask(runtime, me, NEAR_MISS)).cache == "miss"
        assert (await ask(runtime, tenant(), PARAPHRASE)).cache == "miss"  # another tenant


async def test_follow_ups_never_use_the_semantic_cache(cache_settings: Settings) -> None:
    async with started(cache_settings) as runtime:
        me = tenant()
        await ingest(runtime, me, "pool.md", POOL)
        opening = await ask(runtime, me, "What does the pool do?")
        await ask(runtime, me)  # cached history-free
        follow_up = await ask(runtime, me, PARAPHRASE, session_id=opening.session_id)
        assert follow_up.cache == "miss"


async def test_entries_expire_and_hits_do_not_extend_them(tmp_path: Path) -> None:
    with backend_settings("sqlite", tmp_path / "var", cache_ttl_seconds=2) as settings:
        async with started(settings) as runtime:
            me = tenant()
            await ingest(runtime, me, "pool.md", POOL)
            await ask(runtime, me)
            await asyncio.sleep(1.2)
            assert (await ask(runtime, me)).cache == "hit-exact"
            assert (await ask(runtime, me, PARAPHRASE)).cache == "hit-semantic"
            await asyncio.sleep(1.0)  # 2.2 s after the answer was cached, 1 s after the hits
            assert (await ask(runtime, me, PARAPHRASE)).cache == "miss"  # computed, cached
            assert (await ask(runtime, me)).cache == "hit-semantic"  # on the new entry


async def test_redis_ttl_is_fixed_at_write(tmp_path: Path) -> None:
    with backend_settings("postgres", tmp_path / "var", redis_url=REDIS_URL) as settings:
        async with started(settings) as runtime:
            me = tenant()
            await ingest(runtime, me, "pool.md", POOL)
            await ask(runtime, me)
            raw = redis.Redis.from_url(REDIS_URL)
            try:
                keys = list(raw.scan_iter(match=f"ragops:answers:{me}:*"))
                assert len(keys) == 2  # the exact entry and the scope's semantic hash
                before = {k: raw.pttl(k) for k in keys}
                time.sleep(0.3)
                assert (await ask(runtime, me)).cache == "hit-exact"
                assert (await ask(runtime, me, PARAPHRASE)).cache == "hit-semantic"
                after = {k: raw.pttl(k) for k in keys}
                assert all(after[k] <= before[k] - 250 for k in keys)
            finally:
                raw.close()


async def test_semantic_entries_are_shared_between_instances(tmp_path: Path) -> None:
    with backend_settings("postgres", tmp_path / "a", redis_url=REDIS_URL) as settings:
        other = settings.model_copy(update={"data_dir": tmp_path / "b"})
        async with started(settings) as one, started(other) as two:
            me = tenant()
            await ingest(one, me, "pool.md", POOL)
            assert (await ask(one, me)).cache == "miss"
            assert (await ask(two, me, PARAPHRASE)).cache == "hit-semantic"
            assert one.answers is not None
            await one.answers.clear(tenant_id=me, collection=None)
            assert (await ask(two, me, PARAPHRASE)).cache == "miss"
