"""Tables and API shapes of background ingestion jobs.

`ingest_jobs` holds each job's state and progress, so every instance sees every job;
`ingest_job_files` holds the bytes of the files a job has not ingested yet (a row is deleted
once its file is done, so an interrupted job resumes with what is left).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ragops.db.base import Base, created_column, id_column, utcnow
from ragops.documents.models import IngestOutcome
from ragops.schema import UtcDatetime

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
FINISHED: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
"""States a job never leaves."""


class IngestJob(Base):
    """One background ingestion of one or more files into one collection."""

    __tablename__ = "ingest_jobs"
    __table_args__ = (
        Index("ix_ingest_jobs_tenant_created", "tenant_id", "created_at"),
        Index("ix_ingest_jobs_state", "state"),
    )

    id: Mapped[str] = id_column()
    tenant_id: Mapped[str] = mapped_column(String(64), nullable=False)
    collection: Mapped[str] = mapped_column(String(63), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    documents_total: Mapped[int] = mapped_column(Integer, nullable=False)
    documents_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    documents_failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    chunks_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    instance: Mapped[str | None] = mapped_column(String(128), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = created_column()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, nullable=False
    )


class IngestJobFile(Base):
    """A file of a job not yet ingested: its bytes, kept until it is done."""

    __tablename__ = "ingest_job_files"

    job_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("ingest_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(512), nullable=False)
    media_type: Mapped[str | None] = mapped_column(String(255), nullable=True)
    size_bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class JobProgress(BaseModel):
    """How far a job got."""

    documents_total: int
    documents_done: int = Field(description="Files finished, ingested or failed")
    documents_failed: int
    chunks_done: int


class JobRead(BaseModel):
    """A background ingestion job as the API shows it."""

    id: str
    kind: Literal["ingest"] = "ingest"
    collection: str
    state: JobState = Field(
        description="queued, running, succeeded (every file handled; see `results` for files "
        "that failed), failed, cancelled, or interrupted (stopped by a shutdown; it resumes)"
    )
    progress: JobProgress
    cancel_requested: bool
    attempts: int = Field(
        description="Times an instance started it: more than 1 after a shutdown interrupted it"
    )
    error: str | None = None
    results: list[IngestOutcome] = Field(
        default_factory=list, description="One outcome per finished file, in upload order"
    )
    created_at: UtcDatetime
    started_at: UtcDatetime | None = None
    finished_at: UtcDatetime | None = None

    @classmethod
    def of(cls, job: IngestJob) -> JobRead:
        """The API view of a job row."""
        return cls(
            id=job.id,
            collection=job.collection,
            state=job.state,  # type: ignore[arg-type,unused-ignore]
            progress=JobProgress(
                documents_total=job.documents_total,
                documents_done=job.documents_done,
                documents_failed=job.documents_failed,
                chunks_done=job.chunks_done,
            ),
            cancel_requested=job.cancel_requested,
            attempts=job.attempts,
            error=job.error,
            results=[IngestOutcome.model_validate(r) for r in job.results or []],
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
        )


class JobList(BaseModel):
    """The tenant's jobs, newest first."""

    jobs: list[JobRead]
