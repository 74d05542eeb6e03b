"""Reindex: rebuild the vector store's points from the database's chunk rows.

The database holds every chunk's text and metadata; the vector store is an index derived from
them. After the embedding model changed (a new, empty collection: its name carries the
model), after `RAGOPS_SENTENCE_VECTORS` was turned on over a store that can hold them, or
after the store's data was lost, `reindex` writes every current chunk's point again, without
the original files: the current version's chunk rows of each collection in scope are read
`batch_size` at a time (keyset order by chunk id, so memory stays bounded), turned into index
inputs exactly as ingestion builds them (`documents.points`), embedded and BM25-encoded (with
sentence units when the setting is on and the store holds them, `Retriever.build_points`) and
upserted under their chunk ids. A point rewritten for a row that a concurrent update or delete
removed meanwhile is deleted again at once.

Upserts by id make it idempotent and restartable: a run cut short leaves the points written
so far valid, and running it again writes every point once more and finishes. Each
collection's corpus version is bumped when its points are written, so no answer cached on
the old vectors is served afterwards. Old points it does not rewrite (rows long gone) are the
store reconcile's (`ragops store reconcile`).

The CLI (`ragops documents reindex`) and the admin API (`POST /v1/admin/reindex`) call it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select

from ragops.cache import versions as corpus_versions
from ragops.documents.models import (
    REINDEX_BATCH,
    REINDEX_MAX_BATCH,
    Chunk,
    Collection,
    Document,
    ReindexResult,
)
from ragops.documents.points import stored_input
from ragops.documents.service import IngestDeps, build_points
from ragops.errors import NotFoundError, ServiceUnavailable, ValidationFailed
from ragops.providers.embedder.factory import resolve_dimension

logger = logging.getLogger(__name__)


Progress = Callable[[int, int], None]
"""Called as `progress(chunks_done, chunks_total)` after each batch."""

NO_SENTENCES = (
    "RAGOPS_SENTENCE_VECTORS is on, but the vector store's collection was created without "
    "the sentence multivector, so the points were written without sentence vectors; "
    "docs/retrieval.md ('Sentence vectors') says how to start a collection that holds them"
)
NO_SECOND = (
    "RAGOPS_SECOND_EMBEDDER is on, but the vector store's collection was created without the "
    "second embedder's vector, so the points were written without it; docs/retrieval.md "
    "('Two embedders') says how to start a collection that holds it"
)


@dataclass(frozen=True, slots=True)
class Target:
    """One collection to rebuild, with its counts when the run started."""

    id: str
    tenant_id: str
    name: str
    documents: int
    chunks: int


async def targets(
    deps: IngestDeps,
    *,
    tenant_id: str | None,
    collection: str | None,
    default: str | None = None,
) -> list[Target]:
    """The collections in scope (`tenant_id` None: every tenant's), with their current
    document and chunk counts. NotFoundError for a named tenant or collection that has none
    (`collection_not_found` for a collection), except the `default` collection, which always
    exists: without a row it is in scope with nothing to rebuild (an empty list)."""
    query = (
        select(
            Collection.id,
            Collection.tenant_id,
            Collection.name,
            func.count(Document.id),
            func.coalesce(func.sum(Document.chunk_count), 0),
        )
        .outerjoin(Document, Document.collection_id == Collection.id)
        .group_by(Collection.id, Collection.tenant_id, Collection.name)
        .order_by(Collection.tenant_id, Collection.name)
    )
    if tenant_id is not None:
        query = query.where(Collection.tenant_id == tenant_id)
    if collection is not None:
        query = query.where(Collection.name == collection)
    async with deps.db.session() as session:
        rows = (await session.execute(query)).all()
    if not rows and collection is not None:
        if collection == default:
            return []
        owner = f"tenant {tenant_id}" if tenant_id is not None else "any tenant"
        raise NotFoundError(
            f"collection {collection} of {owner} not found", code="collection_not_found"
        )
    if not rows and tenant_id is not None:
        raise NotFoundError(f"tenant {tenant_id} has no collections")
    return [Target(str(i), str(t), str(n), int(d), int(c)) for i, t, n, d, c in rows]


async def _current_rows(
    deps: IngestDeps, target: Target, after: str, limit: int
) -> list[tuple[Chunk, Document]]:
    """The next `limit` chunk rows (by id, after `after`) of the current versions."""
    query = (
        select(Chunk, Document)
        .join(Document, Document.id == Chunk.document_id)
        .where(Document.collection_id == target.id, Chunk.version == Document.version)
        .where(Chunk.id > after)
        .order_by(Chunk.id)
        .limit(limit)
    )
    async with deps.db.session() as session:
        return [(chunk, document) for chunk, document in (await session.execute(query)).all()]


async def _still_current(deps: IngestDeps, ids: Sequence[str]) -> set[str]:
    query = (
        select(Chunk.id)
        .join(Document, Document.id == Chunk.document_id)
        .where(Chunk.id.in_(list(ids)), Chunk.version == Document.version)
    )
    async with deps.db.session() as session:
        return set((await session.execute(query)).scalars())


async def _store(name: str, call: Awaitable[None]) -> None:
    """Await a store call; a failure becomes ServiceUnavailable saying to run it again."""
    try:
        await call
    except ServiceUnavailable:
        raise
    except Exception as exc:
        logger.exception("vector store call failed during the reindex of %s", name)
        raise ServiceUnavailable(
            "the vector store failed during the reindex; the points written so far stay "
            "valid: run the reindex again to finish"
        ) from exc


async def _write(deps: IngestDeps, rows: list[tuple[Chunk, Document]], name: str) -> int:
    """Embed and upsert one batch; delete again the points whose row went meanwhile."""
    inputs = [stored_input(chunk, document, name) for chunk, document in rows]
    points = await build_points(deps, inputs)
    written_at = time.time()
    for point in points:
        point.payload["written_at"] = written_at  # the reconcile's grace period applies
    ids = [point.id for point in points]
    await _store(name, deps.store.upsert(points))
    current = await _still_current(deps, ids)
    gone = [point_id for point_id in ids if point_id not in current]
    if gone:
        await _store(name, deps.store.delete_points(gone))
    return len(points) - len(gone)


async def reindex(
    deps: IngestDeps,
    *,
    tenant_id: str | None,
    collection: str | None = None,
    batch_size: int = REINDEX_BATCH,
    progress: Progress | None = None,
    found: Sequence[Target] | None = None,
) -> ReindexResult:
    """Rebuild the points of the current chunks of a tenant's collections (one, when
    `collection` is given; every tenant's, when `tenant_id` is None) in the configured store.
    `found` is `targets(...)` of the same scope when the caller has already read it.

    Raises ValidationFailed for a batch size out of range, NotFoundError for an unknown tenant
    or collection, ServiceUnavailable when the embedder or the store fails (run it again)."""
    if not 1 <= batch_size <= REINDEX_MAX_BATCH:
        raise ValidationFailed(f"the batch size must be between 1 and {REINDEX_MAX_BATCH}")
    started = time.monotonic()
    if found is None:
        found = await targets(deps, tenant_id=tenant_id, collection=collection)
    total = sum(target.chunks for target in found)
    documents = sum(target.documents for target in found)
    await deps.store.ensure_ready(await resolve_dimension(deps.retriever.embedder))
    sentences = deps.settings.sentence_vectors and deps.store.holds_sentences
    second = deps.retriever.uses_second()
    warnings = [NO_SENTENCES] if deps.settings.sentence_vectors and not sentences else []
    if deps.retriever.second is not None and not second:
        warnings.append(NO_SECOND)
    logger.info(
        "reindex started: tenant %s, collection %s: %d collections, %d documents, %d chunks",
        tenant_id or "(all)",
        collection or "(all)",
        len(found),
        documents,
        total,
    )
    written = 0
    for target in found:
        after = ""
        while rows := await _current_rows(deps, target, after, batch_size):
            after = rows[-1][0].id
            written += await _write(deps, rows, target.name)
            if progress is not None:
                progress(written, max(total, written))
        async with deps.db.session() as session, session.begin():
            await corpus_versions.bump(session, tenant_id=target.tenant_id, collection=target.name)
    result = ReindexResult(
        tenant_id=tenant_id,
        collection=collection,
        collections=len(found),
        documents=documents,
        chunks=written,
        sentence_vectors=sentences,
        second_vectors=second,
        warning="; ".join(warnings) or None,
        seconds=round(time.monotonic() - started, 3),
    )
    logger.info(
        "reindex finished: %d collections, %d documents, %d chunks in %.1f s",
        result.collections,
        result.documents,
        result.chunks,
        result.seconds,
    )
    return result
