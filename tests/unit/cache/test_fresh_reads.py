"""Shared corpus-version reads (`cache.versions.FreshReads`): questions asked together share a
read, and none is answered by a read that started before it was asked."""

from __future__ import annotations

import asyncio

from ragops.cache.versions import FreshReads


class Store:
    """A version that a test bumps while reads are in flight; each read takes a while."""

    def __init__(self) -> None:
        self.version = 1
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def read(self, tenant: str, collection: str) -> int:
        seen = self.version  # what the database returns: its state when the read starts
        self.started.set()
        await self.release.wait()
        return seen


async def test_callers_at_the_same_time_share_one_read() -> None:
    store = Store()
    store.release.set()
    reads = FreshReads(store.read)
    assert await asyncio.gather(*(reads.current("t", "c") for _ in range(20))) == [1] * 20
    assert reads.reads == 1


async def test_a_caller_never_joins_a_read_that_started_before_it() -> None:
    store = Store()
    reads = FreshReads(store.read)
    early = asyncio.create_task(reads.current("t", "c"))
    await store.started.wait()  # the first read is running and has seen version 1
    store.version = 2  # an ingest commits
    late = [asyncio.create_task(reads.current("t", "c")) for _ in range(5)]
    await asyncio.sleep(0)
    store.release.set()
    assert await early == 1
    assert await asyncio.gather(*late) == [2] * 5  # one more read, shared by the late five
    assert reads.reads == 2


async def test_scopes_are_read_apart_and_a_failed_read_fails_only_its_callers() -> None:
    calls: list[tuple[str, str]] = []

    async def read(tenant: str, collection: str) -> int:
        calls.append((tenant, collection))
        if collection == "broken":
            raise RuntimeError("database down")
        return len(collection)

    reads = FreshReads(read)
    results = await asyncio.gather(
        reads.current("t", "abc"), reads.current("t", "broken"), return_exceptions=True
    )
    assert results[0] == 3 and isinstance(results[1], RuntimeError)
    assert sorted(calls) == [("t", "abc"), ("t", "broken")]
    assert await reads.current("t", "abc") == 3  # nothing left behind
