"""Tables and API shapes of collections, documents and their chunks."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ragops.config.names import COLLECTION_NAME_RE
from ragops.db.base import Base, created_column, id_column, utcnow
from ragops.schema import JsonInt, RequestModel, UtcDatetime


class Collection(Base):
    """A named set of documents of one tenant; questions search one collection."""

    __tablename__ = "collections"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_collections_tenant_name"),)

    id: Mapped[str] = id_column()
    tenant_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(63), nullable=False)
    created_at: Mapped[datetime] = created_column()


class Document(Base):
    """One ingested file; `version` names the chunk set questions may see."""

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("collection_id", "source", name="uq_documents_collection_source"),
        Index("ix_documents_tenant_collection", "tenant_id", "collection_id"),
        Index("ix_documents_tenant_updated", "tenant_id", "updated_at"),  # newest first
    )

    id: Mapped[str] = id_column()
    tenant_id: Mapped[str] = mapped_column(String(64), nullable=False)
    collection_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("collections.id", ondelete="CASCADE"), nullable=False
    )
    source: Mapped[str] = mapped_column(String(512), nullable=False)
    title: Mapped[str] = mapped_column(String(512), nullable=False)
    media_type: Mapped[str] = mapped_column(String(64), nullable=False)
    size_bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    chunk_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, nullable=False
    )


class Chunk(Base):
    """Metadata and text of one chunk of one document version (its vectors live in the
    vector store under the same id)."""

    __tablename__ = "chunks"
    __table_args__ = (Index("ix_chunks_document_version", "document_id", "version"),)

    id: Mapped[str] = id_column()
    document_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("documents.id", ondelete="CASCADE"), nullable=False
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    ordinal: Mapped[int] = mapped_column(Integer, nullable=False)
    section: Mapped[str] = mapped_column(String(1024), nullable=False, default="")
    start_offset: Mapped[int] = mapped_column(Integer, nullable=False)
    end_offset: Mapped[int] = mapped_column(Integer, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    quoted: Mapped[list[list[int]] | None] = mapped_column(JSON, nullable=True)
    """[start, end] offsets into `text` of its code blocks and block quotes (revision 0003)."""


class DocumentRead(BaseModel):
    """A document as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    collection: str
    source: str
    title: str
    media_type: str
    size_bytes: int
    content_hash: str
    version: int
    chunk_count: int
    created_at: UtcDatetime
    updated_at: UtcDatetime


class IngestFailure(BaseModel):
    """Why one file of a batch was not ingested."""

    code: str
    message: str


class IngestOutcome(BaseModel):
    """What happened to one file: created, updated, unchanged or error."""

    filename: str
    status: str
    document: DocumentRead | None = None
    error: IngestFailure | None = None


class IngestBatchResult(BaseModel):
    """Per-file outcomes of one upload or CLI batch."""

    results: list[IngestOutcome]


class DocumentList(BaseModel):
    """A page of documents."""

    items: list[DocumentRead]
    total: int


class CollectionRead(BaseModel):
    """A collection and how many documents it holds."""

    name: str
    document_count: int
    created_at: UtcDatetime


REINDEX_BATCH = 256
"""Chunk rows a reindex reads, embeds and writes together by default."""
REINDEX_MAX_BATCH = 4096


class ReindexRequest(RequestModel):
    """`POST /v1/admin/reindex`: which of the caller's collections to rebuild (all when
    `collection` is absent)."""

    model_config = ConfigDict(extra="forbid")

    collection: str | None = Field(
        None, pattern=COLLECTION_NAME_RE.pattern, description="Only this collection."
    )
    batch_size: JsonInt = Field(
        REINDEX_BATCH,
        ge=1,
        le=REINDEX_MAX_BATCH,
        description="Chunk rows read, embedded and written together.",
    )


class ReindexResult(BaseModel):
    """What a reindex rebuilt: the current version's chunks of each collection in scope."""

    tenant_id: str | None = Field(description="The tenant rebuilt; null: every tenant.")
    collection: str | None = Field(description="The collection rebuilt; null: all of them.")
    collections: int
    documents: int
    chunks: int = Field(description="Points written (one per chunk row).")
    sentence_vectors: bool = Field(
        description="Whether the points were written with their sentence vectors."
    )
    second_vectors: bool = Field(
        False,
        description="Whether the points were written with the second embedder's vector "
        "(RAGOPS_SECOND_EMBEDDER).",
    )
    warning: str | None = None
    seconds: float
