"""Corpus versions: read per question, bumped inside the transaction that changes a corpus.

The database is the one place every instance sees, so the version lives there and is read
fresh for each question (one primary-key lookup); no instance can serve an answer computed
on a corpus that another instance has since changed.

`FreshReads` lets questions asked at the same time share one read without weakening that:
a question joins only a read that starts after it was asked (while one read runs, the
questions arriving meanwhile wait for the next one), so every question sees each version
committed before it arrived.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from sqlalchemy import column, select, table, union
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ragops.cache.models import CorpusVersion
from ragops.db import Database
from ragops.db.base import utcnow

# The documents domain bumps versions, so this module names its table without importing it.
COLLECTIONS = table("collections", column("tenant_id"), column("name"))


async def current(*, db: Database, tenant_id: str, collection: str) -> int:
    """The collection's corpus version (0 when nothing was ever ingested into it)."""
    statement = select(CorpusVersion.version).where(
        CorpusVersion.tenant_id == tenant_id, CorpusVersion.collection == collection
    )
    rows = await db.read_now(statement)  # on SQLite: on the loop, no thread hop
    return int(rows[0][0]) if rows else 0


Scope = tuple[str, str]


class FreshReads:
    """Shared reads of the corpus version of one (tenant, collection) at a time: a caller
    joins a read that has not started yet, or queues one to start when the running read
    ends; never one that started before it asked (see the module docstring)."""

    def __init__(self, read: Callable[[str, str], Awaitable[int]]) -> None:
        self._read = read
        self._running: dict[Scope, asyncio.Task[int]] = {}
        self._next: dict[Scope, asyncio.Task[int]] = {}
        self.reads = 0
        """Reads made so far (a figure for tests and benchmarks)."""

    async def current(self, tenant_id: str, collection: str) -> int:
        """The version as of a read that started after this call."""
        scope = (tenant_id, collection)
        waiting = self._next.get(scope)
        if waiting is None or waiting.done():  # done before its read: cancelled at shutdown
            running = self._running.get(scope)
            if running is not None and running.done():
                running = None
            waiting = asyncio.create_task(self._after(scope, running))
            self._next[scope] = waiting  # joinable until its read starts
        return await asyncio.shield(waiting)

    async def _after(self, scope: Scope, running: asyncio.Task[int] | None) -> int:
        if running is not None:
            await asyncio.wait([running])  # its outcome is its own callers'
        task = asyncio.current_task()
        assert task is not None
        if self._next.get(scope) is task:  # from here on, newcomers queue another read
            del self._next[scope]
        self._running[scope] = task
        try:
            self.reads += 1
            return await self._read(*scope)
        finally:
            if self._running.get(scope) is task:
                del self._running[scope]


async def bump(session: AsyncSession, *, tenant_id: str, collection: str) -> None:
    """Raise the collection's version by one, in the caller's transaction."""
    now = utcnow()
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(CorpusVersion).values(
        tenant_id=tenant_id, collection=collection, version=1, updated_at=now
    )
    statement = statement.on_conflict_do_update(
        index_elements=[CorpusVersion.tenant_id, CorpusVersion.collection],
        set_={"version": CorpusVersion.version + 1, "updated_at": now},
    )
    await session.execute(statement)


async def bump_matching(
    *, db: Database, tenant_id: str | None, collection: str | None
) -> list[tuple[str, str]]:
    """Bump every known collection matching the filters (None = any); returns the scopes
    (none when nothing matches: a misspelt name is not reported as cleared).

    Known = has a version row or a collection row, so collections ingested before versions
    existed are covered too."""
    versions = select(CorpusVersion.tenant_id, CorpusVersion.collection)
    collections = select(COLLECTIONS.c.tenant_id, COLLECTIONS.c.name)
    if tenant_id is not None:
        versions = versions.where(CorpusVersion.tenant_id == tenant_id)
        collections = collections.where(COLLECTIONS.c.tenant_id == tenant_id)
    if collection is not None:
        versions = versions.where(CorpusVersion.collection == collection)
        collections = collections.where(COLLECTIONS.c.name == collection)
    async with db.session() as session, session.begin():
        scopes = sorted({(t, c) for t, c in (await session.execute(union(versions, collections)))})
        for tenant, name in scopes:
            await bump(session, tenant_id=tenant, collection=name)
    return scopes
