"""Batch ingestion: many files through one pipeline that embeds across documents.

Files go in groups of about `GROUP_CHUNKS` chunks. Each file of a group is extracted and
chunked (`service.prepare`, which reads the database in a short session of its own); then all
chunks of the group are embedded and BM25-encoded in one `build_points` call, so the embedder
batches passages of similar length from many documents; the points go to the vector store in
one write; and the group's documents are switched to their new versions in one short
transaction (`_commit_together`), or, when that fails, each in a transaction of its own. No
database transaction is open while a group is embedded.

A bad file is reported and the others still ingest. A failed embedding or vector store write
fails that group's documents and leaves nothing of them behind; a failed commit fails its own
document only (the group's transaction is retried document by document).

Progress: an optional `progress(done, total)` callback after each file, and a log line every
`LOG_EVERY_SECONDS` and at the end of a batch of several files.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ragops.cache import versions as corpus_versions
from ragops.config.names import validate_collection_name
from ragops.db.base import utcnow
from ragops.documents.catalog import document_read
from ragops.documents.errors import IngestError
from ragops.documents.models import Document, IngestFailure, IngestOutcome
from ragops.documents.removal import discard_points
from ragops.documents.service import (
    IngestDeps,
    Prepared,
    build_points,
    find_documents,
    prepare,
    switch_to,
    upsert_points,
)
from ragops.documents.switching import copy_row, ensure_collection, switch_version
from ragops.errors import ConflictError, ServiceUnavailable, ValidationFailed

logger = logging.getLogger(__name__)

GROUP_CHUNKS = 256
"""Chunks embedded and written together: enough for length-sorted batches, small enough that
progress moves every few seconds and a failure costs little."""
LOG_EVERY_SECONDS = 10.0
LOOKUP_FILES = 64
"""Files whose stored versions are read in one query (a short window: a concurrent writer's
change in between is still caught when the document is switched)."""

Progress = Callable[[int, int], None]
"""Called as `progress(files_done, files_total)` after each file."""

_REPORTED = (ConflictError, ServiceUnavailable, ValidationFailed)


def _failure(
    source: str, err: IngestError | ConflictError | ServiceUnavailable | ValidationFailed
) -> IngestOutcome:
    message = err.message if isinstance(err, IngestError) else f"{source}: {err.message}"
    return IngestOutcome(
        filename=source, status="error", error=IngestFailure(code=err.code, message=message)
    )


class _Tracker:
    """Counts finished files and chunks; calls the callback and logs now and then."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total = total
        self.progress = progress
        self.files = 0
        self.chunks = 0
        self.started = time.monotonic()
        self.logged = self.started

    def done(self, chunks: int = 0) -> None:
        self.files += 1
        self.chunks += chunks
        if self.progress is not None:
            self.progress(self.files, self.total)
        now = time.monotonic()
        if now - self.logged >= LOG_EVERY_SECONDS and self.files < self.total:
            self.logged = now
            logger.info(
                "ingesting: %d of %d files, %d chunks, %.1f files/s",
                self.files,
                self.total,
                self.chunks,
                self.files / max(now - self.started, 1e-9),
            )

    def finish(self) -> None:
        if self.total > 1:
            seconds = time.monotonic() - self.started
            logger.info("ingested %d files, %d chunks in %.1f s", self.files, self.chunks, seconds)


async def _store_group(
    deps: IngestDeps,
    group: list[tuple[int, Prepared]],
    outcomes: list[IngestOutcome | None],
    tracker: _Tracker,
    *,
    tenant_id: str,
    collection: str,
) -> None:
    """Embed, write and switch one group; fills `outcomes` at the group's indexes."""
    inputs = [item for _, prepared in group for item in prepared.inputs]
    try:
        points = await build_points(deps, inputs)
        await upsert_points(deps, points, f"{len(group)} documents")
    except ServiceUnavailable as err:
        for index, prepared in group:
            outcomes[index] = _failure(prepared.source, err)
            tracker.done()
        return
    if len(group) > 1:
        try:
            together = await _commit_together(
                deps, [p for _, p in group], tenant_id=tenant_id, collection=collection
            )
        except BaseException:  # unexpected (or cancelled): nothing was committed
            await discard_points(deps.store, f"{len(group)} documents", [p.id for p in points])
            raise
        if together is not None:
            for (index, prepared), outcome in zip(group, together, strict=True):
                outcomes[index] = outcome
                tracker.done(len(prepared.inputs))
            return
    for position, (index, prepared) in enumerate(group):
        try:
            outcomes[index] = await switch_to(
                deps, prepared, tenant_id=tenant_id, collection=collection
            )
        except _REPORTED as err:
            outcomes[index] = _failure(prepared.source, err)
        except BaseException:  # unexpected: leave no points of the documents not yet switched
            rest = [item.id for _, later in group[position + 1 :] for item in later.inputs]
            await discard_points(deps.store, f"{len(group)} documents", rest)
            raise
        stored = outcomes[index]
        tracker.done(len(prepared.inputs) if stored and stored.status != "error" else 0)


async def _commit_together(
    deps: IngestDeps, group: list[Prepared], *, tenant_id: str, collection: str
) -> list[IngestOutcome] | None:
    """Switch every document of `group` to its new version in one transaction, as
    `service.switch_to` does for one; None (nothing committed) when another writer got in
    the way, so that the caller retries document by document and only that one fails."""
    now = utcnow()
    try:
        async with deps.db.session() as session, session.begin():
            collection_id: str | None = None
            for p in group:
                values = {
                    "title": p.title[:512],
                    "media_type": p.media_type,
                    "size_bytes": p.size,
                    "content_hash": p.digest,
                    "version": p.version,
                    "chunk_count": len(p.rows),
                    "updated_at": now,
                }
                if p.previous_version:
                    await switch_version(
                        session, p.document_id, p.previous_version, values, p.source
                    )
                    continue
                if collection_id is None:
                    collection_id = await ensure_collection(session, tenant_id, collection)
                session.add(
                    Document(
                        id=p.document_id,
                        tenant_id=tenant_id,
                        collection_id=collection_id,
                        source=p.source,
                        created_at=now,
                        **values,
                    )
                )
            await session.flush()
            session.add_all([copy_row(row) for p in group for row in p.rows])
            await corpus_versions.bump(session, tenant_id=tenant_id, collection=collection)
    except (IntegrityError, ConflictError):
        return None
    ids = [p.document_id for p in group]
    async with deps.db.session() as session:
        found = (await session.execute(select(Document).where(Document.id.in_(ids)))).scalars()
        stored = {document.id: document for document in found}
    outcomes: list[IngestOutcome] = []
    for p in group:
        if p.document_id not in stored:  # deleted between commit and read
            gone = ConflictError(f"{p.source} was deleted by another request")
            await discard_points(deps.store, p.document_id, [i.id for i in p.inputs])
            outcomes.append(_failure(p.source, gone))
            continue
        if p.previous_version:
            try:
                await deps.store.delete_document(tenant_id, p.document_id, except_version=p.version)
            except Exception:  # the old points are invisible already; a later ingest removes them
                logger.warning("could not remove old vectors of document %s", p.document_id)
        outcomes.append(
            IngestOutcome(
                filename=p.source,
                status="updated" if p.previous_version else "created",
                document=document_read(stored[p.document_id], collection),
            )
        )
    return outcomes


async def _lookup(
    deps: IngestDeps, tenant_id: str, collection: str, sources: list[str]
) -> dict[str, Document]:
    """`find_documents`, or {} for a name that is not a valid collection (each file's own
    `prepare` then reports it)."""
    try:
        validate_collection_name(collection)
    except ValueError:
        return {}
    return await find_documents(deps, tenant_id=tenant_id, collection=collection, sources=sources)


async def ingest_batch(
    deps: IngestDeps,
    *,
    tenant_id: str,
    collection: str,
    files: Sequence[tuple[str, bytes, str | None]],
    progress: Progress | None = None,
    trusted: bool = False,
) -> list[IngestOutcome]:
    """Ingest several files (source, bytes, declared media type); one outcome per file, in
    order. A bad file is reported as an "error" outcome and the others still ingest.
    `trusted`: the operator's own files (see `service.prepare`)."""
    outcomes: list[IngestOutcome | None] = [None] * len(files)
    tracker = _Tracker(len(files), progress)
    group: list[tuple[int, Prepared]] = []
    chunks = 0
    known: dict[str, Document] = {}
    seen: set[str] = set()
    for index, (source, data, declared_type) in enumerate(files):
        if index % LOOKUP_FILES == 0:  # the stored versions of the next files, in one query
            window = [name for name, _, _ in files[index : index + LOOKUP_FILES]]
            known = await _lookup(deps, tenant_id, collection, window)
        repeated = source in seen  # must see the version its first occurrence stores
        seen.add(source)
        if any(prepared.source == source for _, prepared in group):
            # the same document twice: the second must see the first one's version
            await _store_group(
                deps, group, outcomes, tracker, tenant_id=tenant_id, collection=collection
            )
            group, chunks = [], 0
        try:
            prepared = await prepare(
                deps,
                tenant_id=tenant_id,
                collection=collection,
                source=source,
                data=data,
                declared_type=declared_type,
                trusted=trusted,
                known=None if repeated else known,
            )
        except (IngestError, *_REPORTED) as err:
            outcomes[index] = _failure(source, err)
            tracker.done()
            continue
        if isinstance(prepared, IngestOutcome):  # unchanged
            outcomes[index] = prepared
            tracker.done()
            continue
        group.append((index, prepared))
        chunks += len(prepared.inputs)
        if chunks >= GROUP_CHUNKS:
            await _store_group(
                deps, group, outcomes, tracker, tenant_id=tenant_id, collection=collection
            )
            group, chunks = [], 0
    if group:
        await _store_group(
            deps, group, outcomes, tracker, tenant_id=tenant_id, collection=collection
        )
    tracker.finish()
    return [outcome for outcome in outcomes if outcome is not None]
