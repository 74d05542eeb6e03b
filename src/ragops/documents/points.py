"""What a chunk's vector point holds, built one way for ingestion, the reindex and the store
reconcile: the payload fields (`point_payload`) and, for a stored chunk row, the text that is
embedded (its title and section prefix, `chunking.embedding_text`) beside that payload
(`stored_input`). The vectors themselves (dense, BM25, sentence units) come from
`Retriever.build_points`.
"""

from __future__ import annotations

from typing import Any

from ragops.documents.chunking import embedding_text
from ragops.documents.models import Chunk, Document
from ragops.retrieval.service import ChunkInput


def point_payload(
    *,
    tenant_id: str,
    collection: str,
    document_id: str,
    version: int,
    chunk_id: str,
    source: str,
    title: str,
    section: str,
    text: str,
    start: int,
    end: int,
    ordinal: int,
    quoted: list[list[int]] | None,
) -> dict[str, Any]:
    """The payload of one chunk's point (the fields `VectorStore` documents)."""
    return {
        "tenant_id": tenant_id,
        "collection": collection,
        "document_id": document_id,
        "version": version,
        "chunk_id": chunk_id,
        "source": source,
        "title": title,
        "section": section,
        "text": text,
        "start": start,
        "end": end,
        "ordinal": ordinal,
        "quoted": quoted,
    }


def stored_input(chunk: Chunk, document: Document, collection: str) -> ChunkInput:
    """The index input of a stored chunk row, as ingestion built it from the file."""
    return ChunkInput(
        id=chunk.id,
        text=embedding_text(document.title, chunk.section, chunk.text),
        payload=point_payload(
            tenant_id=document.tenant_id,
            collection=collection,
            document_id=document.id,
            version=chunk.version,
            chunk_id=chunk.id,
            source=document.source,
            title=document.title,
            section=chunk.section,
            text=chunk.text,
            start=chunk.start_offset,
            end=chunk.end_offset,
            ordinal=chunk.ordinal,
            quoted=chunk.quoted,
        ),
    )
