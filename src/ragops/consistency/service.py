"""Store check and reconcile: compare the database's chunk rows with the vector store's points.

A chunk row's id is its point's id. An *orphan point* is a point no chunk row names: what a
vector delete that failed left behind (a deleted document's text would stay in the store's
payloads for ever), or what a crashed ingest wrote. A *missing point* is a chunk row without
its point: that chunk can never be found by a question.

`check` scans both (rows first, then points) and reports per tenant and collection; it also
lists documents whose current version has lost its chunk rows (reported, not repaired: the text
is not stored elsewhere, and ingesting the file again rebuilds them).
`reconcile` removes the orphan points and re-creates the missing ones from their rows (embedded
again). Points younger than the grace period are not judged: an ingest writes its points
before it commits their rows, so a young point without a row is most likely an ingest in
flight. Before it acts, `reconcile` reads the database again: an orphan it removes still has
no row, and a point it re-creates still has its row at the document's current version.

The CLI (`ragops store`), the admin API (`/v1/admin/store/...`) and the service's scheduled
reconcile (`consistency.scheduler`) all call these.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select

from ragops.consistency.models import SAMPLE_IDS, ScopeFindings, StoreReport
from ragops.db import Database
from ragops.documents.models import Chunk, Collection, Document
from ragops.documents.points import stored_input
from ragops.errors import NotFoundError
from ragops.observability import metrics
from ragops.providers.vectorstore import PointRef, VectorStore
from ragops.retrieval.service import ChunkInput, Retriever

logger = logging.getLogger(__name__)

BATCH = 256
"""Ids read, removed or re-created per step."""


@dataclass
class Findings:
    """A check's complete result (the report shows counts and samples of it)."""

    tenant_id: str | None
    rows: dict[str, tuple[str, str]]  # chunk id -> (tenant, collection)
    points: int = 0
    recent: int = 0
    orphans: list[PointRef] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    chunkless: list[str] = field(default_factory=list)  # "tenant/collection/source (id)"

    def report(self, seconds: float) -> StoreReport:
        """The API shape of these findings."""
        per_scope: Counter[tuple[str, str, str]] = Counter()
        for point in self.orphans:
            per_scope[(point.tenant_id, point.collection, "orphan")] += 1
        for chunk_id in self.missing:
            tenant, collection = self.rows[chunk_id]
            per_scope[(tenant, collection, "missing")] += 1
        scopes = sorted({(t, c) for t, c, _ in per_scope})
        return StoreReport(
            tenant_id=self.tenant_id,
            chunk_rows=len(self.rows),
            points=self.points,
            orphan_points=len(self.orphans),
            missing_points=len(self.missing),
            recent_points=self.recent,
            scopes=[
                ScopeFindings(
                    tenant_id=t,
                    collection=c,
                    orphan_points=per_scope[(t, c, "orphan")],
                    missing_points=per_scope[(t, c, "missing")],
                )
                for t, c in scopes
            ],
            orphan_point_ids=[p.id for p in self.orphans[:SAMPLE_IDS]],
            missing_chunk_ids=self.missing[:SAMPLE_IDS],
            documents_without_chunks=len(self.chunkless),
            documents_without_chunks_sample=self.chunkless[:SAMPLE_IDS],
            seconds=round(seconds, 3),
        )


async def require_tenant(db: Database, tenant_id: str) -> None:
    """NotFoundError for a tenant with no collection and no API key (a mistyped `--tenant`)."""
    from ragops.auth.models import ApiKey

    async with db.session() as session:
        for query in (
            select(Collection.id).where(Collection.tenant_id == tenant_id).limit(1),
            select(ApiKey.id).where(ApiKey.tenant_id == tenant_id).limit(1),
        ):
            if (await session.execute(query)).first() is not None:
                return
    raise NotFoundError(f"tenant {tenant_id} not found: it has no collections and no API keys")


async def chunkless_documents(db: Database, tenant_id: str | None) -> list[str]:
    """Documents whose current version should have chunk rows (`chunk_count` > 0) and has none
    (deleted by hand): such a document answers nothing. Its text is only in the chunk rows,
    so no reconcile can rebuild it: ingesting its file again does."""
    has_rows = (
        select(Chunk.id)
        .where(Chunk.document_id == Document.id, Chunk.version == Document.version)
        .exists()
    )
    query = (
        select(Document.id, Document.tenant_id, Collection.name, Document.source)
        .join(Collection, Collection.id == Document.collection_id)
        .where(Document.chunk_count > 0, ~has_rows)
        .order_by(Document.tenant_id, Collection.name, Document.source)
    )
    if tenant_id is not None:
        query = query.where(Document.tenant_id == tenant_id)
    async with db.session() as session:
        rows = (await session.execute(query)).all()
    return [
        f"{tenant}/{collection}/{source} ({doc_id})" for doc_id, tenant, collection, source in rows
    ]


async def _chunk_rows(db: Database, tenant_id: str | None) -> dict[str, tuple[str, str]]:
    query = (
        select(Chunk.id, Document.tenant_id, Collection.name)
        .join(Document, Document.id == Chunk.document_id)
        .join(Collection, Collection.id == Document.collection_id)
    )
    if tenant_id is not None:
        query = query.where(Document.tenant_id == tenant_id)
    async with db.session() as session:
        result = await session.execute(query)
        return {row[0]: (row[1], row[2]) for row in result}


async def find(
    db: Database, store: VectorStore, *, tenant_id: str | None, grace_seconds: float
) -> Findings:
    """Compare chunk rows and points (of one tenant, or of all)."""
    findings = Findings(tenant_id=tenant_id, rows=await _chunk_rows(db, tenant_id))
    seen: set[str] = set()
    young_before = time.time() - grace_seconds
    async for batch in store.scan(tenant_id):
        for point in batch:
            findings.points += 1
            seen.add(point.id)
            if point.id in findings.rows:
                continue
            if point.written_at is not None and point.written_at > young_before:
                findings.recent += 1
            else:
                findings.orphans.append(point)
    findings.missing = [chunk_id for chunk_id in findings.rows if chunk_id not in seen]
    findings.chunkless = await chunkless_documents(db, tenant_id)
    return findings


async def check(
    db: Database, store: VectorStore, *, tenant_id: str | None, grace_seconds: float
) -> StoreReport:
    """Report orphan and missing points; counts them in `ragops_store_inconsistencies_total`."""
    started = time.perf_counter()
    findings = await find(db, store, tenant_id=tenant_id, grace_seconds=grace_seconds)
    _count_found(findings)
    return findings.report(time.perf_counter() - started)


def _count_found(findings: Findings) -> None:
    if findings.orphans:
        metrics.record_inconsistencies("orphan_point", "found", len(findings.orphans))
    if findings.missing:
        metrics.record_inconsistencies("missing_point", "found", len(findings.missing))


async def reconcile(
    db: Database,
    store: VectorStore,
    retriever: Retriever,
    *,
    tenant_id: str | None,
    grace_seconds: float,
) -> StoreReport:
    """Check, then remove orphan points and re-create missing ones; returns the findings with
    what was repaired. A store failure raises (what was done so far stays done)."""
    started = time.perf_counter()
    findings = await find(db, store, tenant_id=tenant_id, grace_seconds=grace_seconds)
    _count_found(findings)
    removed = await _remove_orphans(db, store, [p.id for p in findings.orphans])
    recreated = await _recreate(db, store, retriever, findings.missing)
    if removed:
        metrics.record_inconsistencies("orphan_point", "repaired", removed)
    if recreated:
        metrics.record_inconsistencies("missing_point", "repaired", recreated)
    report = findings.report(time.perf_counter() - started)
    report.removed, report.recreated = removed, recreated
    if removed or recreated:
        logger.warning(
            "store reconcile removed %d orphan points and re-created %d missing points",
            removed,
            recreated,
        )
    return report


async def _existing_rows(db: Database, ids: Sequence[str]) -> set[str]:
    async with db.session() as session:
        found = await session.execute(select(Chunk.id).where(Chunk.id.in_(list(ids))))
        return set(found.scalars())


async def _remove_orphans(db: Database, store: VectorStore, ids: list[str]) -> int:
    removed = 0
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        named = await _existing_rows(db, batch)  # committed since the scan: not orphans
        gone = [point_id for point_id in batch if point_id not in named]
        await store.delete_points(gone)
        removed += len(gone)
    return removed


async def _recreate(db: Database, store: VectorStore, retriever: Retriever, ids: list[str]) -> int:
    recreated = 0
    for start in range(0, len(ids), BATCH):
        inputs = await _inputs(db, ids[start : start + BATCH])
        if not inputs:
            continue
        points = await retriever.build_points(inputs)
        written_at = time.time()
        for point in points:
            point.payload["written_at"] = written_at
        await store.upsert(points)
        recreated += len(points)
    return recreated


async def _inputs(db: Database, ids: Sequence[str]) -> list[ChunkInput]:
    """The index inputs of these chunk rows, as ingestion built them; rows deleted or of a
    version the document has left since the scan are skipped."""
    query = (
        select(Chunk, Document, Collection.name)
        .join(Document, Document.id == Chunk.document_id)
        .join(Collection, Collection.id == Document.collection_id)
        .where(Chunk.id.in_(list(ids)), Chunk.version == Document.version)
    )
    async with db.session() as session:
        rows = (await session.execute(query)).all()
    return [stored_input(chunk, document, collection) for chunk, document, collection in rows]
