"""The corpus-version table and the shapes of cached answers and cache operations."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ragops.db.base import Base, utcnow

CacheStatus = Literal["hit-exact", "hit-semantic", "miss"]
"""How an answer was served; sent as `X-Cache` and as the `cache` field."""


class CorpusVersion(Base):
    """The version of one collection's corpus: bumped in the same transaction as every
    ingest or delete that changes it, and by every cache clear. Cache keys name it, so an
    answer computed on an older corpus is never found again, on any instance."""

    __tablename__ = "corpus_versions"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    collection: Mapped[str] = mapped_column(String(63), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, nullable=False
    )


class CachedAnswer(BaseModel):
    """What a cache entry holds: the answer and its citations as first served."""

    question: str
    answer: str
    citations: list[dict[str, Any]]
    mode: str
    created: float


class CacheClearResult(BaseModel):
    """What a clear did: the scopes whose version was bumped and the entries removed."""

    tenant_id: str | None
    collection: str | None
    scopes: int = Field(description="Collections whose cached answers became unreachable.")
    entries_removed: int = Field(description="Entries deleted from the cache backend.")
