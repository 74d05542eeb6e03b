"""Tables and API shapes of chat sessions, their messages and feedback."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, StrictBool, computed_field
from sqlalchemy import JSON, DateTime, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ragops.config.names import COLLECTION_NAME_RE
from ragops.db.base import Base, created_column, id_column, utcnow
from ragops.schema import RequestModel, UtcDatetime

AnswerMode = Literal["generated", "extractive"]


class ChatSession(Base):
    """A conversation: follow-up questions see its recent turns."""

    __tablename__ = "chat_sessions"
    __table_args__ = (
        Index("ix_chat_sessions_tenant_updated", "tenant_id", "updated_at"),
        Index("ix_chat_sessions_updated_at", "updated_at"),  # archiving: oldest first
    )

    id: Mapped[str] = id_column()
    tenant_id: Mapped[str] = mapped_column(String(64), nullable=False)
    collection: Mapped[str] = mapped_column(String(63), nullable=False)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, nullable=False
    )


class Message(Base):
    """One turn: the user's question or the assistant's cited answer."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_session_created", "session_id", "created_at"),)

    id: Mapped[str] = id_column()
    session_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("chat_sessions.id", ondelete="CASCADE"), nullable=False
    )
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    mode: Mapped[str | None] = mapped_column(String(16), nullable=True)
    citations: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = created_column()


class Feedback(Base):
    """A user's verdict on one answer (one per message; a new verdict replaces the old)."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("message_id", name="uq_feedback_message_id"),)

    id: Mapped[str] = id_column()
    message_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("messages.id", ondelete="CASCADE"), nullable=False
    )
    rating: Mapped[str] = mapped_column(String(8), nullable=False)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = created_column()


# ---- API shapes ----


class ChatRequest(RequestModel):
    """A question, optionally continuing a session, in a collection."""

    model_config = {"extra": "forbid"}

    # The rules stated in the schema (`json_schema_extra`) are checked by the chat service,
    # which answers with precise codes: empty_question, question_too_long, invalid_collection.
    question: str = Field(
        ...,
        description="The question; its length limit is configurable (`maxLength` here).",
        json_schema_extra={"minLength": 1, "pattern": r"\S"},
    )
    session_id: str | None = Field(None, max_length=64)
    collection: str | None = Field(
        None, max_length=63, json_schema_extra={"pattern": COLLECTION_NAME_RE.pattern}
    )
    stream: StrictBool = False


class Citation(BaseModel):
    """A passage the answer cites; `index` is the number in the answer's brackets."""

    index: int
    document_id: str
    title: str
    section: str
    snippet: str
    score: float


class Timings(BaseModel):
    """Milliseconds spent in each stage of one answer."""

    embed_ms: float
    retrieve_ms: float
    generate_ms: float
    total_ms: float


class ChatResponse(BaseModel):
    """A cited answer."""

    answer: str
    citations: list[Citation]
    mode: AnswerMode
    session_id: str
    message_id: str
    request_id: str
    timings: Timings
    fallback_reason: str | None = None
    cache: Literal["hit-exact", "hit-semantic", "miss"] = Field(
        "miss",
        description="How the answer was served: from the exact or semantic answer "
        "cache, or computed (also sent as the `X-Cache` header).",
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def degraded(self) -> bool:
        """Whether a fallback produced this answer (`fallback_reason` says which)."""
        return self.fallback_reason is not None


class MessageRead(BaseModel):
    """One stored turn of a session."""

    id: str
    role: str
    content: str
    mode: str | None
    citations: list[Citation] | None
    created_at: UtcDatetime


class SessionRead(BaseModel):
    """A session and its turns, oldest first."""

    id: str
    collection: str
    created_at: UtcDatetime
    updated_at: UtcDatetime
    messages: list[MessageRead]


class FeedbackCreate(RequestModel):
    """An up or down verdict with an optional comment."""

    model_config = {"extra": "forbid"}

    rating: Literal["up", "down"]
    comment: str | None = Field(None, max_length=2000)


class FeedbackRead(BaseModel):
    """Stored feedback."""

    id: str
    message_id: str
    rating: str
    comment: str | None
    created_at: UtcDatetime
