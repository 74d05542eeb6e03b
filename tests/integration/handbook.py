"""A chunk of a small "handbook" collection for the retriever's tests: one chunk per document,
its id derived from tenant and document, its payload as ingestion writes it."""

from __future__ import annotations

import uuid
from typing import Any

from ragops.retrieval.service import ChunkInput


def handbook_chunk(tenant: str, doc: str, text: str, *, section: str = "") -> ChunkInput:
    """Document `doc`'s one chunk `text` in the tenant's collection "handbook" (title: the
    document's name), indexed with its title in front."""
    chunk_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}/{doc}"))
    payload: dict[str, Any] = {
        "tenant_id": tenant,
        "collection": "handbook",
        "document_id": doc,
        "version": 1,
        "chunk_id": chunk_id,
        "title": doc.title(),
        "section": section,
        "text": text,
        "start": 0,
        "end": len(text),
        "ordinal": 0,
    }
    return ChunkInput(id=chunk_id, text=f"{doc.title()}\n\n{text}", payload=payload)
