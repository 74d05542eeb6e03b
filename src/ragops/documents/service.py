"""Document service: ingest, replace, list and delete documents, keeping the database and the
vector store consistent.

The database is the source of truth for which chunks a question may see: each document row
names its current `version`, and retrieval drops every hit of another version. A new version's
points are written to the vector store first, then one database transaction switches the
document to that version (and replaces its chunk rows); only then are the old points removed.
A failure at any step removes what that attempt wrote, so a failed ingest leaves no half state
and no question ever sees half the old and half the new document.

Old points are removed by the superseded version's chunk ids, read in the switching
transaction, never by "every version but mine": a concurrent ingest that committed a newer
version meanwhile keeps its points. A vector delete that fails is counted
(`ragops_vector_cleanup_failures_total`); the points it left are orphans (no chunk row names
them, so no question sees them) that the store reconcile removes (`ragops.consistency`).
Removal (failed attempts' points, superseded points, whole documents) is `documents.removal`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ragops.config import Settings
from ragops.config.names import validate_collection_name
from ragops.db import Database
from ragops.db.base import new_id
from ragops.documents.budget import (
    IngestQuota,
    check_document_size,
    check_raw_text,
    estimate_word_pieces,
)
from ragops.documents.catalog import document_read
from ragops.documents.chunking import chunk_document
from ragops.documents.errors import IngestError
from ragops.documents.extract import extract
from ragops.documents.hashing import content_hash
from ragops.documents.models import (
    Chunk,
    Collection,
    Document,
    IngestOutcome,
)
from ragops.documents.points import point_payload
from ragops.documents.removal import delete_document as delete_document  # the service's API
from ragops.documents.removal import discard_points, remove_points
from ragops.documents.switching import commit_version
from ragops.errors import ServiceUnavailable
from ragops.providers.vectorstore import ChunkPoint, VectorStore
from ragops.retrieval.service import ChunkInput, Retriever
from ragops.security.injection import scan_document_chunks
from ragops.workers import run_blocking

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IngestDeps:
    """What ingestion needs: the database, the vector store and the point builder."""

    settings: Settings
    db: Database
    store: VectorStore
    retriever: Retriever
    quota: IngestQuota | None = None


async def _find(
    session: AsyncSession, tenant_id: str, collection: str, source: str
) -> Document | None:
    query = (
        select(Document)
        .join(Collection, Collection.id == Document.collection_id)
        .where(Collection.tenant_id == tenant_id, Collection.name == collection)
        .where(Document.source == source)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def find_documents(
    deps: IngestDeps, *, tenant_id: str, collection: str, sources: Sequence[str]
) -> dict[str, Document]:
    """The stored documents of `collection` among `sources` (by source), in one query."""
    query = (
        select(Document)
        .join(Collection, Collection.id == Document.collection_id)
        .where(Collection.tenant_id == tenant_id, Collection.name == collection)
        .where(Document.source.in_(sorted(set(sources))))
    )
    async with deps.db.session() as session:
        return {doc.source: doc for doc in (await session.execute(query)).scalars()}


@dataclass(slots=True)
class Prepared:
    """One file extracted and chunked, with its rows and index inputs, ready to embed."""

    source: str
    document_id: str
    previous_version: int
    version: int
    title: str
    media_type: str
    size: int
    digest: str
    rows: list[Chunk]
    inputs: list[ChunkInput]


async def _has_current_chunks(db: Database, document: Document) -> bool:
    """False for a document whose current version had chunks and has no chunk row now (rows
    deleted by hand): its file is then ingested again, not skipped as unchanged."""
    if document.chunk_count == 0:
        return True
    query = (
        select(Chunk.id)
        .where(Chunk.document_id == document.id, Chunk.version == document.version)
        .limit(1)
    )
    async with db.session() as session:
        return (await session.execute(query)).first() is not None


async def prepare(
    deps: IngestDeps,
    *,
    tenant_id: str,
    collection: str,
    source: str,
    data: bytes,
    declared_type: str | None,
    trusted: bool = False,
    known: Mapping[str, Document] | None = None,
) -> Prepared | IngestOutcome:
    """Extract and chunk one file; the outcome "unchanged" when its bytes are already stored.

    The database is read in a short session of its own: no transaction stays open while the
    caller embeds. `trusted` marks content the operator put on the server (the demo corpus):
    text in it that looks like instructions is logged at info level instead of as a detection.
    `known`: the stored documents of a batch looked up together (`find_documents`), so that
    this one needs no query (a source absent from it is new)."""
    validate_collection_name(collection)
    settings = deps.settings
    check_raw_text(source, data, settings.max_document_word_pieces)
    extracted = await run_blocking(
        "cpu",
        extract,
        source,
        data,
        declared_type=declared_type,
        max_bytes=settings.max_upload_bytes,
        max_pdf_pages=settings.max_pdf_pages,
        pdf_timeout_seconds=settings.pdf_parse_timeout_seconds,
        pdf_memory_mb=settings.pdf_parse_memory_mb,
    )
    digest = content_hash(data)
    if known is not None:
        existing = known.get(source)
    else:
        async with deps.db.session() as session:
            existing = await _find(session, tenant_id, collection, source)
    if (
        existing is not None
        and existing.content_hash == digest
        and await _has_current_chunks(deps.db, existing)
    ):
        return IngestOutcome(
            filename=source, status="unchanged", document=document_read(existing, collection)
        )
    previous_version = existing.version if existing is not None else 0
    document_id = existing.id if existing is not None else new_id()

    pieces = await run_blocking("cpu", estimate_word_pieces, extracted.text)
    check_document_size(source, pieces, settings.max_document_word_pieces)
    if deps.quota is not None:
        await deps.quota.charge(source, tenant_id, pieces)

    chunks = await run_blocking(
        "cpu",
        chunk_document,
        extracted,
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
    )
    if not chunks:
        raise IngestError(source, "no_text", "no text could be extracted")
    await run_blocking(
        "cpu",
        scan_document_chunks,
        document_id,
        [chunk.text for chunk in chunks],
        quoted=[chunk.quoted + chunk.inline_code for chunk in chunks],
        trusted=trusted,
    )
    version = previous_version + 1
    rows = [
        Chunk(
            id=new_id(),
            document_id=document_id,
            version=version,
            ordinal=chunk.ordinal,
            section=chunk.section[:1024],
            start_offset=chunk.start,
            end_offset=chunk.end,
            text=chunk.text,
            quoted=[list(span) for span in chunk.quoted],
        )
        for chunk in chunks
    ]
    inputs = [
        ChunkInput(
            id=row.id,
            text=chunk.content_for_embedding,
            payload=point_payload(
                tenant_id=tenant_id,
                collection=collection,
                document_id=document_id,
                version=version,
                chunk_id=row.id,
                source=source,
                title=extracted.title,
                section=row.section,
                text=chunk.text,
                start=chunk.start,
                end=chunk.end,
                ordinal=chunk.ordinal,
                quoted=row.quoted,
            ),
        )
        for row, chunk in zip(rows, chunks, strict=True)
    ]
    return Prepared(
        source=source,
        document_id=document_id,
        previous_version=previous_version,
        version=version,
        title=extracted.title,
        media_type=extracted.media_type,
        size=len(data),
        digest=digest,
        rows=rows,
        inputs=inputs,
    )


EMBED_SLICE = 64
"""Chunks embedded per step: a cancelled ingest (shutdown) stops after the current step."""


async def build_points(deps: IngestDeps, inputs: Sequence[ChunkInput]) -> list[ChunkPoint]:
    """Embed and encode `inputs`, `EMBED_SLICE` at a time, so cancellation (a graceful stop)
    takes effect between slices instead of after a whole large document."""
    points: list[ChunkPoint] = []
    for start in range(0, len(inputs), EMBED_SLICE):
        points.extend(await deps.retriever.build_points(list(inputs[start : start + EMBED_SLICE])))
    return points


async def upsert_points(deps: IngestDeps, points: Sequence[ChunkPoint], what: str) -> None:
    """Write points; on failure remove what was written and raise ServiceUnavailable.

    Each point records when it was written (`written_at`): the store reconcile leaves young
    points alone, since an ingest writes its points before it commits their chunk rows."""
    written_at = time.time()
    for point in points:
        point.payload["written_at"] = written_at
    try:
        await deps.store.upsert(points)
    except Exception as exc:
        await discard_points(deps.store, what, [point.id for point in points])
        logger.exception("vector store write failed for %s", what)
        raise ServiceUnavailable("the vector store could not store the document") from exc


async def switch_to(
    deps: IngestDeps, prepared: Prepared, *, tenant_id: str, collection: str
) -> IngestOutcome:
    """Make the stored points of `prepared` current: one database transaction, then the old
    version's points are removed. A failed commit removes this version's points."""
    p = prepared
    try:
        stored, superseded = await commit_version(
            deps.db,
            tenant_id=tenant_id,
            collection=collection,
            source=p.source,
            document_id=p.document_id,
            previous_version=p.previous_version,
            version=p.version,
            title=p.title,
            media_type=p.media_type,
            size=p.size,
            digest=p.digest,
            rows=p.rows,
        )
    except BaseException:
        await discard_points(deps.store, p.document_id, [i.id for i in p.inputs])
        raise

    if superseded:  # by id: a newer version committed meanwhile keeps its points
        await remove_points(deps.store, p.document_id, superseded, "superseded")
    status = "updated" if p.previous_version else "created"
    return IngestOutcome(
        filename=p.source, status=status, document=document_read(stored, collection)
    )


async def ingest_bytes(
    deps: IngestDeps,
    *,
    tenant_id: str,
    collection: str,
    source: str,
    data: bytes,
    declared_type: str | None = None,
    trusted: bool = False,
) -> IngestOutcome:
    """Ingest one file's bytes as document `source` of `collection` (`trusted`: see `prepare`).

    Returns the outcome (created, updated or unchanged). Raises IngestError for a file that
    cannot be ingested, ConflictError when another writer changed the same document first,
    ServiceUnavailable when the vector store or database fails; nothing is left half-stored.
    """
    prepared = await prepare(
        deps,
        tenant_id=tenant_id,
        collection=collection,
        source=source,
        data=data,
        declared_type=declared_type,
        trusted=trusted,
    )
    if isinstance(prepared, IngestOutcome):
        return prepared
    points = await build_points(deps, prepared.inputs)
    await upsert_points(deps, points, source)
    return await switch_to(deps, prepared, tenant_id=tenant_id, collection=collection)
