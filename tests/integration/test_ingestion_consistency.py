"""Ingestion keeps the database and the vector store consistent, on SQLite and PostgreSQL
with the embedded store, and on PostgreSQL with its vectors in pgvector (one database):
unchanged files are skipped, changed files replace their chunks atomically, failures leave
nothing behind, deletes remove chunks and vectors.

Fault injection wraps the real vector store (`FaultyStore`) to fail or pause at a chosen
moment; everything else is the real runtime.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ragops.chat.passages import retrieve
from ragops.config import Settings
from ragops.documents import service as documents
from ragops.documents.errors import IngestError
from ragops.documents.models import Chunk, Document
from ragops.errors import ConflictError, ServiceUnavailable
from ragops.providers.vectorstore import ChunkPoint, SearchScope, VectorStore
from ragops.runtime import Runtime
from tests.conftest import BACKENDS, backend_settings, pgvector_settings

TENANT = "default"


@pytest.fixture(params=[*BACKENDS, "pgvector"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """SQLite and PostgreSQL with the embedded store, then PostgreSQL holding the vectors."""
    if request.param == "pgvector":
        server = request.getfixturevalue("pgvector_server")
        with pgvector_settings(server, tmp_path / "var") as value:
            yield value
        return
    with backend_settings(request.param, tmp_path / "var") as value:
        yield value


V1 = (
    b"# Backups\n\nBackups run every night at two o'clock.\n\n"
    b"## Retention\n\nBackups are kept for seven days.\n"
)
V2 = (
    b"# Backups\n\nBackups run every hour on the hour.\n\n"
    b"## Retention\n\nBackups are kept for thirty days.\n"
)


class FaultyStore:
    """The real store, with a hook run inside `upsert` (after half the points are written)."""

    def __init__(self, real: VectorStore) -> None:
        self.real = real
        self.on_upsert: Callable[[], Awaitable[None]] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def upsert(self, points: Sequence[ChunkPoint]) -> None:
        half = max(1, len(points) // 2)
        await self.real.upsert(points[:half])
        if self.on_upsert is not None:
            hook, self.on_upsert = self.on_upsert, None
            await hook()
        await self.real.upsert(points[half:])


async def _ingest(runtime: Runtime, data: bytes, source: str = "backups.md") -> Any:
    return await documents.ingest_bytes(
        runtime.ingest_deps, tenant_id=TENANT, collection="ops", source=source, data=data
    )


async def _state(runtime: Runtime) -> tuple[int, int, int]:
    """(documents, chunk rows, vector points) of the test tenant."""
    async with runtime.db.session() as session:
        docs = (await session.execute(select(func.count(Document.id)))).scalar_one()
        chunks = (await session.execute(select(func.count(Chunk.id)))).scalar_one()
    points = await runtime.store.count(SearchScope(tenant_id=TENANT))
    return int(docs), int(chunks), points


async def _answer(runtime: Runtime, question: str) -> str:
    passages, _, _ = await retrieve(
        runtime.chat_deps, tenant_id=TENANT, query=question, collection="ops"
    )
    return " ".join(p.text for p in passages)


async def test_unchanged_changed_and_deleted(runtime: Runtime) -> None:
    created = await _ingest(runtime, V1)
    assert created.status == "created" and created.document.version == 1
    docs, chunks, points = await _state(runtime)
    assert (docs, chunks) == (1, created.document.chunk_count) and points == chunks

    unchanged = await _ingest(runtime, V1)
    assert unchanged.status == "unchanged" and unchanged.document.version == 1
    assert await _state(runtime) == (docs, chunks, points)

    updated = await _ingest(runtime, V2)
    assert updated.status == "updated" and updated.document.version == 2
    assert updated.document.id == created.document.id
    docs, chunks, points = await _state(runtime)
    assert docs == 1 and chunks == updated.document.chunk_count and points == chunks
    text = await _answer(runtime, "How long are backups kept?")
    assert "thirty days" in text and "seven days" not in text

    await documents.delete_document(
        db=runtime.db, store=runtime.store, tenant_id=TENANT, document_id=created.document.id
    )
    assert await _state(runtime) == (0, 0, 0)


async def test_questions_never_see_half_of_a_replacement(runtime: Runtime) -> None:
    await _ingest(runtime, V1)
    faulty = FaultyStore(runtime.store)
    seen: list[str] = []

    async def look() -> None:
        seen.append(await _answer(runtime, "How long are backups kept and when do they run?"))

    faulty.on_upsert = look
    deps = replace(runtime.ingest_deps, store=faulty)
    await documents.ingest_bytes(
        deps, tenant_id=TENANT, collection="ops", source="backups.md", data=V2
    )
    assert "seven days" in seen[0] and "thirty days" not in seen[0] and "every hour" not in seen[0]
    after = await _answer(runtime, "How long are backups kept and when do they run?")
    assert "thirty days" in after and "seven days" not in after


async def test_vector_store_failure_leaves_nothing_half_stored(runtime: Runtime) -> None:
    await _ingest(runtime, V1)
    before = await _state(runtime)
    faulty = FaultyStore(runtime.store)

    async def explode() -> None:
        raise ConnectionError("vector store went away")

    faulty.on_upsert = explode
    deps = replace(runtime.ingest_deps, store=faulty)
    with pytest.raises(ServiceUnavailable):
        await documents.ingest_bytes(
            deps, tenant_id=TENANT, collection="ops", source="backups.md", data=V2
        )
    with pytest.raises(ServiceUnavailable):
        await documents.ingest_bytes(
            replace(deps, store=_always_failing(runtime.store)),
            tenant_id=TENANT,
            collection="ops",
            source="new.md",
            data=V2,
        )
    assert await _state(runtime) == before
    assert "seven days" in await _answer(runtime, "How long are backups kept?")


def _always_failing(real: VectorStore) -> FaultyStore:
    store = FaultyStore(real)

    async def explode() -> None:
        raise ConnectionError("down")

    store.on_upsert = explode
    return store


async def test_concurrent_writer_wins_and_the_loser_cleans_up(runtime: Runtime) -> None:
    await _ingest(runtime, V1)
    faulty = FaultyStore(runtime.store)
    v3 = V2.replace(b"thirty", b"ninety")

    async def other_writer() -> None:
        await _ingest(runtime, v3)

    faulty.on_upsert = other_writer
    deps = replace(runtime.ingest_deps, store=faulty)
    with pytest.raises(ConflictError):
        await documents.ingest_bytes(
            deps, tenant_id=TENANT, collection="ops", source="backups.md", data=V2
        )
    docs, chunks, points = await _state(runtime)
    assert docs == 1 and points == chunks
    text = await _answer(runtime, "How long are backups kept?")
    assert "ninety days" in text and "thirty days" not in text


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("image.md", b"\x89PNG\r\n\x1a\n\x00\x00", "unsupported_media_type"),
        ("broken.pdf", b"%PDF-1.7\n%%garbage", "corrupt_pdf"),
        ("blank.txt", b"   \n\n  ", "empty_document"),
    ],
)
async def test_bad_file_changes_nothing(
    runtime: Runtime, name: str, data: bytes, code: str
) -> None:
    await _ingest(runtime, V1)
    before = await _state(runtime)
    with pytest.raises(IngestError) as caught:
        await _ingest(runtime, data, source=name)
    assert caught.value.code == code and name in str(caught.value)
    assert await _state(runtime) == before


async def test_parallel_ingests_of_different_files(runtime: Runtime) -> None:
    bodies = [f"# Note {i}\n\nThe code word of note {i} is word{i}.\n".encode() for i in range(4)]
    outcomes = await asyncio.gather(
        *(_ingest(runtime, body, source=f"note{i}.md") for i, body in enumerate(bodies))
    )
    assert {o.status for o in outcomes} == {"created"}
    docs, chunks, points = await _state(runtime)
    assert docs == 4 and points == chunks


class DeleteHook:
    """The real store; the first delete (of any kind) runs `hook` before it deletes."""

    def __init__(self, real: VectorStore, hook: Callable[[], Awaitable[None]]) -> None:
        self.real = real
        self.hook: Callable[[], Awaitable[None]] | None = hook

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def _before(self) -> None:
        if self.hook is not None:
            hook, self.hook = self.hook, None
            await hook()

    async def delete_points(self, point_ids: Sequence[str]) -> None:
        await self._before()
        await self.real.delete_points(point_ids)

    async def delete_document(self, *args: Any, **kwargs: Any) -> None:
        await self._before()
        await self.real.delete_document(*args, **kwargs)


async def test_removing_the_old_version_spares_a_newer_one_committed_meanwhile(
    runtime: Runtime,
) -> None:
    """Writer A switches to version 2; before it removes version 1's points, writer B
    commits version 3. A must remove version 1's points only: version 3 stays answerable."""
    await _ingest(runtime, V1)
    v3 = V2.replace(b"thirty", b"ninety")

    async def other_writer() -> None:
        outcome = await _ingest(runtime, v3)
        assert outcome.document.version == 3

    deps = replace(runtime.ingest_deps, store=DeleteHook(runtime.store, other_writer))
    outcome = await documents.ingest_bytes(
        deps, tenant_id=TENANT, collection="ops", source="backups.md", data=V2
    )
    assert outcome.status == "updated" and outcome.document.version == 2
    docs, chunks, points = await _state(runtime)
    assert docs == 1 and chunks > 0 and points == chunks
    assert "ninety days" in await _answer(runtime, "How long are backups kept?")
