"""The database side of a new document version: one transaction that inserts the document (and
its collection when new) or moves it from the version it had, replaces its chunk rows and bumps
the collection's corpus version (so no cached answer of the older corpus is served).

`commit_version` is the single-file path of `documents.service`; `documents.batch` commits a
group of files in one transaction with the same pieces (`ensure_collection`, `switch_version`,
`copy_row`). The vector store is not touched here: the caller writes the new points before and
removes the superseded ones (by the chunk ids returned) after.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ragops.cache import versions as corpus_versions
from ragops.db import Database
from ragops.db.base import new_id, utcnow
from ragops.documents.models import Chunk, Collection, Document
from ragops.errors import ConflictError


async def ensure_collection(session: AsyncSession, tenant_id: str, name: str) -> str:
    """The id of collection `name` of the tenant, created (flushed, not committed) when new."""
    query = select(Collection.id).where(Collection.tenant_id == tenant_id, Collection.name == name)
    found = (await session.execute(query)).scalar_one_or_none()
    if found is not None:
        return found
    collection = Collection(id=new_id(), tenant_id=tenant_id, name=name, created_at=utcnow())
    session.add(collection)
    await session.flush()
    return collection.id


async def commit_version(
    db: Database,
    *,
    tenant_id: str,
    collection: str,
    source: str,
    document_id: str,
    previous_version: int,
    version: int,
    title: str,
    media_type: str,
    size: int,
    digest: str,
    rows: Sequence[Chunk],
) -> tuple[Document, list[str]]:
    """Switch the document to `version` in one transaction (insert it when new); returns the
    stored document and the chunk ids of the version it replaced (their points are removed
    next).

    A new document in a new collection may race another request creating the same
    collection: the unique constraint refuses one of them, which then tries once more and
    finds the collection. A race on the document itself is a ConflictError.
    """
    values = {
        "title": title[:512],
        "media_type": media_type,
        "size_bytes": size,
        "content_hash": digest,
        "version": version,
        "chunk_count": len(rows),
        "updated_at": utcnow(),
    }
    superseded: list[str] = []
    for attempt in range(2):
        try:
            async with db.session() as session, session.begin():
                if previous_version:
                    superseded = await switch_version(
                        session, document_id, previous_version, values, source
                    )
                else:
                    collection_id = await ensure_collection(session, tenant_id, collection)
                    session.add(
                        Document(
                            id=document_id,
                            tenant_id=tenant_id,
                            collection_id=collection_id,
                            source=source,
                            created_at=values["updated_at"],  # created = first updated
                            **values,
                        )
                    )
                    await session.flush()
                session.add_all([copy_row(row) for row in rows])
                await corpus_versions.bump(session, tenant_id=tenant_id, collection=collection)
            break
        except IntegrityError as exc:
            if previous_version or attempt == 1:
                raise ConflictError(
                    f"{source} is being ingested by another request; try again"
                ) from exc
    async with db.session() as session:
        stored = await session.get(Document, document_id)
    if stored is None:  # deleted between commit and read
        raise ConflictError(f"{source} was deleted by another request")
    return stored, superseded


async def switch_version(
    session: AsyncSession,
    document_id: str,
    previous_version: int,
    values: dict[str, object],
    source: str,
) -> list[str]:
    """Move the document from `previous_version` on; returns the replaced chunk rows' ids."""
    result = await session.execute(
        update(Document)
        .where(Document.id == document_id, Document.version == previous_version)
        .values(**values)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise ConflictError(f"{source} was changed or deleted by another request; try again")
    replaced = select(Chunk.id).where(Chunk.document_id == document_id)
    superseded = list((await session.execute(replaced)).scalars())
    await session.execute(delete(Chunk).where(Chunk.document_id == document_id))
    return superseded


def copy_row(row: Chunk) -> Chunk:
    """A fresh, unattached copy of a chunk row (a failed attempt's rows cannot be re-added)."""
    return Chunk(
        id=row.id,
        document_id=row.document_id,
        version=row.version,
        ordinal=row.ordinal,
        section=row.section,
        start_offset=row.start_offset,
        end_offset=row.end_offset,
        text=row.text,
        quoted=row.quoted,
    )
