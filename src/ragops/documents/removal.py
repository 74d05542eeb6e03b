"""Removing a document's vectors and rows: points no chunk row names any more, what a failed
ingest attempt wrote, and a whole document on delete.

A vector delete that fails is counted (`ragops_vector_cleanup_failures_total`) and logged, not
raised: the points it left are orphans that no question sees (retrieval keeps only hits of a
document's current version) and that the store reconcile removes (`ragops.consistency`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import delete, select

from ragops.cache import versions as corpus_versions
from ragops.db import Database
from ragops.documents.models import Collection, Document
from ragops.errors import NotFoundError
from ragops.observability import metrics
from ragops.observability.metrics import CleanupReason
from ragops.providers.vectorstore import VectorStore

logger = logging.getLogger(__name__)


async def remove_points(
    store: VectorStore, document_id: str, point_ids: Sequence[str], why: CleanupReason
) -> bool:
    """Delete points no chunk row names any more; False (counted, logged) when the store
    fails: they are invisible to questions, and the store reconcile removes them later."""
    try:
        await store.delete_points(list(point_ids))
    except Exception:
        metrics.record_vector_cleanup_failure(why)
        logger.warning(
            "could not remove %d %s vectors of document %s; the store reconcile will",
            len(point_ids),
            why,
            document_id,
        )
        return False
    return True


async def discard_points(store: VectorStore, document_id: str, point_ids: list[str]) -> None:
    """Remove what one failed attempt wrote: by point id, never by version, since a
    concurrent writer of the same document may have written points of the same version."""
    await remove_points(store, document_id, point_ids, "failed_ingest")


async def delete_document(
    *, db: Database, store: VectorStore, tenant_id: str, document_id: str
) -> None:
    """Delete a document, its chunk rows and its vectors. NotFoundError if not the tenant's."""
    async with db.session() as session, session.begin():
        collection = (
            await session.execute(
                select(Collection.name)
                .join(Document, Document.collection_id == Collection.id)
                .where(Document.id == document_id, Document.tenant_id == tenant_id)
            )
        ).scalar_one_or_none()
        result = await session.execute(
            delete(Document).where(Document.id == document_id, Document.tenant_id == tenant_id)
        )
        if collection is None or getattr(result, "rowcount", 0) != 1:
            raise NotFoundError(f"document {document_id} not found", code="document_not_found")
        # Cached answers computed with this document become unreachable in this transaction.
        await corpus_versions.bump(session, tenant_id=tenant_id, collection=collection)
    try:
        await store.delete_document(tenant_id, document_id)
    except Exception:  # rows are gone, so the vectors are invisible; the reconcile removes them
        metrics.record_vector_cleanup_failure("deleted")
        logger.warning(
            "could not remove vectors of deleted document %s; the store reconcile will",
            document_id,
        )
