"""The reindex rebuilds the vector store from the database alone: on SQLite and PostgreSQL with
the embedded store (its folder removed, as a lost store; then started again with sentence
vectors on, as the docs say to get them), and on pgvector (the points deleted; sentence
vectors turned on over the same tables). After it a question finds the right chunk again,
the points hold what ingestion wrote, each collection's corpus version is one higher, and a
second run writes the same points again."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ragops.cache import versions
from ragops.config import Settings
from ragops.db import migrate
from ragops.documents import service as documents
from ragops.documents.models import Chunk
from ragops.documents.reindex import reindex
from ragops.errors import NotFoundError, ServiceUnavailable, ValidationFailed
from ragops.providers.vectorstore import SearchScope
from ragops.runtime import Runtime
from tests.conftest import PgVectorServer, backend_settings, pgvector_settings

TENANT = "default"
BACKUPS = (
    b"# Backups\n\nBackups run every night at two o'clock.\n\n## Retention\n\nKept seven days.\n"
)
POOL = (
    b"# Connection pool\n\nThe pool keeps eight connections open and grows to thirty-two under "
    b"load.\n\n## Timeouts\n\nA request waits at most five seconds for a connection.\n"
)
OTHER = b"# Garden\n\nTomatoes need six hours of sun a day.\n"
QUESTION = "How long are backups kept?"


async def _ingest(runtime: Runtime) -> None:
    deps = runtime.ingest_deps
    await documents.ingest_bytes(
        deps, tenant_id=TENANT, collection="ops", source="backups.md", data=BACKUPS
    )
    await documents.ingest_bytes(
        deps, tenant_id=TENANT, collection="ops", source="pool.md", data=POOL
    )
    await documents.ingest_bytes(
        deps, tenant_id="other", collection="garden", source="garden.md", data=OTHER
    )


async def _chunk_ids(runtime: Runtime) -> list[str]:
    async with runtime.db.session() as session:
        return sorted((await session.execute(select(Chunk.id))).scalars())


async def _payloads(runtime: Runtime, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    hits = []
    for tenant in (TENANT, "other"):
        hits += await runtime.store.fetch(ids, SearchScope(tenant_id=tenant))
    return {hit.id: {k: v for k, v in hit.payload.items() if k != "written_at"} for hit in hits}


async def _finds_retention(runtime: Runtime) -> bool:
    found = await runtime.retriever.search(QUESTION, SearchScope(tenant_id=TENANT))
    return bool(found.passages) and "seven days" in found.passages[0].text


async def _lost_store_is_rebuilt(
    settings: Settings, wipe: Any, restarted: Settings, *, remove: Path | None = None
) -> None:
    """Ingest, `wipe(runtime, chunk ids)` the points, remove the folder `remove` (with the
    runtime closed), start again on `restarted`, reindex and compare."""
    await migrate.upgrade(settings)
    runtime = await Runtime.start(settings)
    try:
        await _ingest(runtime)
        ids = await _chunk_ids(runtime)
        ingested = await _payloads(runtime, ids)
        assert len(ingested) == len(ids) and await _finds_retention(runtime)
        await wipe(runtime, ids)
    finally:
        await runtime.aclose()
    if remove is not None:
        shutil.rmtree(remove)
    runtime = await Runtime.start(restarted)
    try:
        assert await runtime.store.count(SearchScope(tenant_id=TENANT)) == 0
        assert not await _finds_retention(runtime)
        before = await versions.current(db=runtime.db, tenant_id=TENANT, collection="ops")

        result = await reindex(runtime.ingest_deps, tenant_id=TENANT, batch_size=2)
        assert (result.collections, result.documents) == (1, 2)
        tenant_ids = [i for i, p in ingested.items() if p["tenant_id"] == TENANT]
        assert result.chunks == len(tenant_ids) and result.seconds > 0
        assert await runtime.store.count(SearchScope(tenant_id="other")) == 0  # not in scope
        assert await _finds_retention(runtime)
        assert await _payloads(runtime, tenant_ids) == {i: ingested[i] for i in tenant_ids}
        assert await versions.current(db=runtime.db, tenant_id=TENANT, collection="ops") == (
            before + 1
        )
        if restarted.sentence_vectors:
            assert result.sentence_vectors and result.warning is None
            question = await runtime.retriever.embedder.embed_query(QUESTION)
            scores = await runtime.store.sentence_scores(
                question, tenant_ids, SearchScope(tenant_id=TENANT)
            )
            assert scores is not None and set(scores) == set(tenant_ids)

        again = await reindex(runtime.ingest_deps, tenant_id=None)  # every tenant, twice over
        assert (again.collections, again.documents, again.chunks) == (2, 3, len(ids))
        assert await runtime.store.count(SearchScope(tenant_id=TENANT)) == len(tenant_ids)
        assert await _payloads(runtime, ids) == ingested
        assert await versions.current(db=runtime.db, tenant_id=TENANT, collection="ops") == (
            before + 2
        )
    finally:
        await runtime.aclose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
@pytest.mark.parametrize("sentences", [False, True], ids=["plain", "sentence-vectors"])
async def test_reindex_rebuilds_a_lost_embedded_store(
    backend: str, sentences: bool, tmp_path: Path
) -> None:
    with backend_settings(backend, tmp_path / "var") as settings:

        async def keep(runtime: Runtime, _: Sequence[str]) -> None:
            return None

        restarted = settings.model_copy(update={"sentence_vectors": sentences})
        await _lost_store_is_rebuilt(settings, keep, restarted, remove=settings.edge_path)


async def test_reindex_on_pgvector_adds_sentence_vectors(
    pgvector_server: PgVectorServer, tmp_path: Path
) -> None:
    with pgvector_settings(pgvector_server, tmp_path / "var") as settings:

        async def wipe(runtime: Runtime, ids: Sequence[str]) -> None:
            await runtime.store.delete_points(list(ids))

        restarted = settings.model_copy(update={"sentence_vectors": True})
        await _lost_store_is_rebuilt(settings, wipe, restarted)


async def test_reindex_refuses_bad_input_and_warns_without_sentence_vectors(
    runtime: Runtime,
) -> None:
    await _ingest(runtime)
    with pytest.raises(NotFoundError, match="tenant nobody has no collections"):
        await reindex(runtime.ingest_deps, tenant_id="nobody")
    with pytest.raises(NotFoundError, match="collection garden of tenant default not found"):
        await reindex(runtime.ingest_deps, tenant_id=TENANT, collection="garden")
    for size in (0, -1, 5000):
        with pytest.raises(ValidationFailed, match="batch size"):
            await reindex(runtime.ingest_deps, tenant_id=TENANT, batch_size=size)
    # the setting on over a shard created without the multivector: said, not silently ignored
    runtime.settings = runtime.settings.model_copy(update={"sentence_vectors": True})
    deps = runtime.ingest_deps
    deps.retriever.settings = runtime.settings
    result = await reindex(deps, tenant_id="other", collection="garden")
    assert (result.documents, result.chunks) == (1, 1)
    assert not result.sentence_vectors
    assert result.warning is not None and "docs/retrieval.md" in result.warning


async def test_a_row_removed_meanwhile_leaves_no_point(runtime: Runtime) -> None:
    """A document deleted while its rows are being rebuilt: its points are deleted again."""
    await _ingest(runtime)
    deps = runtime.ingest_deps
    store = runtime.store
    original = store.upsert

    async def delete_then_upsert(points: Sequence[Any]) -> None:
        pool = [p.payload["document_id"] for p in points if p.payload["source"] == "pool.md"]
        if pool:  # deleted (rows and points) after the rows were read, before the write
            await documents.delete_document(
                db=runtime.db, store=store, tenant_id=TENANT, document_id=pool[0]
            )
        await original(points)

    store.upsert = delete_then_upsert  # type: ignore[method-assign]
    try:
        result = await reindex(deps, tenant_id=TENANT, collection="ops")
    finally:
        store.upsert = original  # type: ignore[method-assign]
    hits = await store.fetch(await _chunk_ids(runtime), SearchScope(tenant_id=TENANT))
    assert {hit.payload["source"] for hit in hits} == {"backups.md"}
    assert result.chunks == len(hits) == await store.count(SearchScope(tenant_id=TENANT))


class FailingUpserts:
    """The real store whose writes fail after `ok` of them, as when the store goes down."""

    def __init__(self, real: Any, ok: int) -> None:
        self.real = real
        self.ok = ok

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def upsert(self, points: Sequence[Any]) -> None:
        if self.ok <= 0:
            raise ConnectionError("vector store unreachable")
        self.ok -= 1
        await self.real.upsert(points)


async def test_a_run_cut_short_is_finished_by_the_next(runtime: Runtime) -> None:
    await _ingest(runtime)
    ids = await _chunk_ids(runtime)
    ops = [i for i, p in (await _payloads(runtime, ids)).items() if p["tenant_id"] == TENANT]
    await runtime.store.delete_points(ids)
    before = await versions.current(db=runtime.db, tenant_id=TENANT, collection="ops")
    failing = replace(runtime.ingest_deps, store=FailingUpserts(runtime.store, ok=1))
    with pytest.raises(ServiceUnavailable, match="run the reindex again to finish"):
        await reindex(failing, tenant_id=TENANT, batch_size=1)
    assert await runtime.store.count(SearchScope(tenant_id=TENANT)) == 1  # the first batch
    assert await versions.current(db=runtime.db, tenant_id=TENANT, collection="ops") == before

    result = await reindex(runtime.ingest_deps, tenant_id=TENANT, batch_size=1)
    assert result.chunks == len(ops) == await runtime.store.count(SearchScope(tenant_id=TENANT))
    assert await _finds_retention(runtime)
    assert await versions.current(db=runtime.db, tenant_id=TENANT, collection="ops") == before + 1
