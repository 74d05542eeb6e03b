"""Batch ingestion (`documents.batch.ingest_batch`) on SQLite and PostgreSQL: chunks of many
documents are embedded together, no database transaction is open while they are, progress is
reported per file, and a failed embedding leaves nothing behind.

The real runtime throughout; the embedder is the real ONNX model behind a spy that records
what each call received and whether a transaction was open at that moment.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import event, func, select

from ragops.documents.batch import ingest_batch
from ragops.documents.models import Chunk, Document
from ragops.providers.embedder.base import EmbedderError, Vectors
from ragops.providers.vectorstore import SearchScope
from ragops.runtime import Runtime

TENANT = "default"


class TransactionCounter:
    """Open database transactions of one engine, from its begin/commit/rollback events."""

    def __init__(self, runtime: Runtime) -> None:
        self.open = 0
        engine = runtime.db.engine.sync_engine
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._end)
        event.listen(engine, "rollback", self._end)

    def _begin(self, _conn: Any) -> None:
        self.open += 1

    def _end(self, _conn: Any) -> None:
        self.open = max(0, self.open - 1)


class SpyEmbedder:
    """The real embedder; records each `embed_documents` call and the open transactions."""

    def __init__(self, real: Any, counter: TransactionCounter, fail: bool = False) -> None:
        self.real = real
        self.counter = counter
        self.fail = fail
        self.calls: list[tuple[int, int]] = []  # (texts, open transactions)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def embed_documents(self, texts: Sequence[str]) -> Vectors:
        self.calls.append((len(texts), self.counter.open))
        if self.fail:
            raise EmbedderError("the model is unavailable")
        vectors: Vectors = await self.real.embed_documents(texts)
        return vectors


def _files(count: int) -> list[tuple[str, bytes, str | None]]:
    return [
        (
            f"note-{i}.md",
            f"# Note {i}\n\nThe backup of system {i} runs at {i} o'clock.\n".encode(),
            None,
        )
        for i in range(count)
    ]


async def _state(runtime: Runtime) -> tuple[int, int, int]:
    async with runtime.db.session() as session:
        docs = (await session.execute(select(func.count(Document.id)))).scalar_one()
        chunks = (await session.execute(select(func.count(Chunk.id)))).scalar_one()
    return int(docs), int(chunks), await runtime.store.count(SearchScope(tenant_id=TENANT))


def _spy(runtime: Runtime, fail: bool = False) -> SpyEmbedder:
    spy = SpyEmbedder(runtime.retriever.embedder, TransactionCounter(runtime), fail=fail)
    runtime.retriever.embedder = spy
    return spy


async def test_documents_embed_together_with_no_transaction_open(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    spy = _spy(runtime)
    seen: list[tuple[int, int]] = []
    files = [*_files(6), ("empty.txt", b"   ", None)]
    with caplog.at_level(logging.INFO, logger="ragops.documents.batch"):
        outcomes = await ingest_batch(
            runtime.ingest_deps,
            tenant_id=TENANT,
            collection="ops",
            files=files,
            progress=lambda done, total: seen.append((done, total)),
        )

    assert [o.filename for o in outcomes] == [name for name, _, _ in files]
    assert [o.status for o in outcomes] == ["created"] * 6 + ["error"]
    # all six documents went to the model in one call, while no transaction was open
    assert spy.calls == [(6, 0)]
    assert seen == [(i, 7) for i in range(1, 8)]
    assert "ingested 7 files, 6 chunks" in caplog.text
    assert await _state(runtime) == (6, 6, 6)

    again = await ingest_batch(
        runtime.ingest_deps, tenant_id=TENANT, collection="ops", files=_files(6)
    )
    assert {o.status for o in again} == {"unchanged"}
    assert len(spy.calls) == 1  # nothing was embedded again


async def test_failed_embedding_fails_its_group_and_leaves_nothing(runtime: Runtime) -> None:
    spy = _spy(runtime, fail=True)
    outcomes = await ingest_batch(
        runtime.ingest_deps, tenant_id=TENANT, collection="ops", files=_files(3)
    )
    assert [o.status for o in outcomes] == ["error"] * 3
    assert all(o.error is not None and o.error.code == "service_unavailable" for o in outcomes)
    assert await _state(runtime) == (0, 0, 0)

    spy.fail = False
    outcomes = await ingest_batch(
        runtime.ingest_deps, tenant_id=TENANT, collection="ops", files=_files(3)
    )
    assert [o.status for o in outcomes] == ["created"] * 3
    assert await _state(runtime) == (3, 3, 3)


async def test_the_same_document_twice_in_one_batch(runtime: Runtime) -> None:
    first, second = _files(2)
    changed = (first[0], second[1], None)
    outcomes = await ingest_batch(
        runtime.ingest_deps,
        tenant_id=TENANT,
        collection="ops",
        files=[first, first, changed],
    )
    assert [o.status for o in outcomes] == ["created", "unchanged", "updated"]
    assert outcomes[2].document is not None and outcomes[2].document.version == 2
    assert await _state(runtime) == (1, 1, 1)


class ConcurrentWriter(SpyEmbedder):
    """On its first call, another writer replaces document `source` first (while the batch's
    own version of it is being embedded)."""

    def __init__(self, runtime: Runtime, source: str) -> None:
        super().__init__(runtime.retriever.embedder, TransactionCounter(runtime))
        self.runtime = runtime
        self.source = source

    async def embed_documents(self, texts: Sequence[str]) -> Vectors:
        if not self.calls:
            self.calls.append((len(texts), 0))
            other = (self.source, b"# Other writer\n\nThe restore drill runs on Fridays.\n", None)
            done = await ingest_batch(
                self.runtime.ingest_deps, tenant_id=TENANT, collection="ops", files=[other]
            )
            assert done[0].status == "updated"
        vectors: Vectors = await self.real.embed_documents(texts)
        return vectors


async def test_a_conflict_in_a_group_fails_that_document_only(runtime: Runtime) -> None:
    first = _files(1)
    assert (
        await ingest_batch(runtime.ingest_deps, tenant_id=TENANT, collection="ops", files=first)
    )[0].status == "created"
    runtime.retriever.embedder = ConcurrentWriter(runtime, first[0][0])
    changed = (first[0][0], b"# Note 0\n\nThe backup now runs at noon.\n", None)
    others = _files(4)[1:]
    outcomes = await ingest_batch(
        runtime.ingest_deps, tenant_id=TENANT, collection="ops", files=[changed, *others]
    )
    assert [o.status for o in outcomes] == ["error", "created", "created", "created"]
    assert outcomes[0].error is not None and outcomes[0].error.code == "conflict"
    # the other writer's version stands, with its points only; the batch's others are stored
    assert await _state(runtime) == (4, 4, 4)
    async with runtime.db.session() as session:
        doc = (
            await session.execute(select(Document).where(Document.source == first[0][0]))
        ).scalar_one()
    assert doc.version == 2 and doc.title == "Other writer"
