"""Read side of documents: find, list and count documents and collections, and tell which
retrieved chunks a question may see. Every query is scoped to one tenant."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select

from ragops.db import Database
from ragops.documents.models import (
    Chunk,
    Collection,
    CollectionRead,
    Document,
    DocumentList,
    DocumentRead,
)
from ragops.errors import NotFoundError


def document_read(document: Document, collection: str) -> DocumentRead:
    """A document row as the API shows it."""
    return DocumentRead(
        id=document.id,
        collection=collection,
        source=document.source,
        title=document.title,
        media_type=document.media_type,
        size_bytes=document.size_bytes,
        content_hash=document.content_hash,
        version=document.version,
        chunk_count=document.chunk_count,
        created_at=document.created_at,
        updated_at=document.updated_at,
    )


async def get_document(*, db: Database, tenant_id: str, document_id: str) -> DocumentRead:
    """One document of the tenant, or NotFoundError."""
    async with db.session() as session:
        query = (
            select(Document, Collection.name)
            .join(Collection, Collection.id == Document.collection_id)
            .where(Document.id == document_id, Document.tenant_id == tenant_id)
        )
        row = (await session.execute(query)).one_or_none()
        if row is None:
            raise NotFoundError(f"document {document_id} not found", code="document_not_found")
        return document_read(row[0], row[1])


async def list_documents(
    *,
    db: Database,
    tenant_id: str,
    collection: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> DocumentList:
    """The tenant's documents, newest first, optionally of one collection."""
    async with db.session() as session:
        base = (
            select(Document, Collection.name)
            .join(Collection, Collection.id == Document.collection_id)
            .where(Document.tenant_id == tenant_id)
        )
        if collection is not None:
            base = base.where(Collection.name == collection)
        total = (
            await session.execute(select(func.count()).select_from(base.subquery()))
        ).scalar_one()
        rows = await session.execute(
            base.order_by(Document.updated_at.desc(), Document.id).limit(limit).offset(offset)
        )
        items = [document_read(document, name) for document, name in rows.all()]
    return DocumentList(items=items, total=int(total))


async def list_collections(*, db: Database, tenant_id: str) -> list[CollectionRead]:
    """The tenant's collections with their document counts."""
    async with db.session() as session:
        query = (
            select(Collection.name, Collection.created_at, func.count(Document.id))
            .outerjoin(Document, Document.collection_id == Collection.id)
            .where(Collection.tenant_id == tenant_id)
            .group_by(Collection.id, Collection.name, Collection.created_at)
            .order_by(Collection.name)
        )
        rows = (await session.execute(query)).all()
    return [
        CollectionRead(name=name, created_at=created, document_count=int(count))
        for name, created, count in rows
    ]


async def collection_exists(*, db: Database, tenant_id: str, name: str) -> bool:
    """Whether the tenant has a collection called `name` (read per question: on SQLite on
    the loop, without a thread hop)."""
    query = select(Collection.id).where(Collection.tenant_id == tenant_id, Collection.name == name)
    return bool(await db.read_now(query.limit(1)))


async def require_collection(*, db: Database, tenant_id: str, name: str, default: str) -> None:
    """NotFoundError (`collection_not_found`) unless the tenant has the collection `name`.

    A collection comes into being with its first document and stays (empty) when its last
    one is deleted; the default collection (`default`) always exists. Every route naming a
    collection to read or act on asks this, so an unknown name is a 404 everywhere, while
    an existing but empty collection is answered with nothing in it."""
    if name != default and not await collection_exists(db=db, tenant_id=tenant_id, name=name):
        raise NotFoundError(f"collection {name!r} not found", code="collection_not_found")


async def visible_chunks(*, db: Database, tenant_id: str, chunk_ids: Sequence[str]) -> set[str]:
    """Which of `chunk_ids` belong to the current version of one of the tenant's documents.

    The chunk rows are replaced in the same transaction that switches a document's version,
    so they name exactly the vector points a question may see: points of a superseded
    version, of a failed or losing concurrent ingest, or of a deleted document are not here.
    """
    if not chunk_ids:
        return set()
    query = (
        select(Chunk.id)
        .join(Document, Document.id == Chunk.document_id)
        .where(Document.tenant_id == tenant_id, Chunk.id.in_(set(chunk_ids)))
    )
    return {row[0] for row in await db.read_now(query)}  # per question: on SQLite, no hop


async def count_documents(*, db: Database, tenant_id: str) -> int:
    """How many documents the tenant has."""
    async with db.session() as session:
        query = select(func.count(Document.id)).where(Document.tenant_id == tenant_id)
        return int((await session.execute(query)).scalar_one())


async def document_chunks(
    *, db: Database, tenant_id: str, document_ids: Sequence[str]
) -> list[Chunk]:
    """The current chunk rows of the tenant's documents `document_ids`, in reading order."""
    if not document_ids:
        return []
    async with db.session() as session:
        query = (
            select(Chunk)
            .join(Document, Document.id == Chunk.document_id)
            .where(Document.tenant_id == tenant_id, Chunk.document_id.in_(set(document_ids)))
            .where(Chunk.version == Document.version)
            .order_by(Chunk.document_id, Chunk.ordinal)
        )
        return list((await session.execute(query)).scalars().all())


async def document_titles(*, db: Database, tenant_id: str, limit: int = 5000) -> dict[str, str]:
    """Title -> id of the tenant's documents (the first of equal titles), at most `limit`."""
    async with db.session() as session:
        query = (
            select(Document.title, Document.id)
            .where(Document.tenant_id == tenant_id)
            .order_by(Document.created_at, Document.id)
            .limit(limit)
        )
        rows = (await session.execute(query)).all()
    titles: dict[str, str] = {}
    for title, document_id in rows:
        titles.setdefault(title, document_id)
    return titles
