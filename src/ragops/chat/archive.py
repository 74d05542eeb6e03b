"""Archive old chat sessions: sessions untouched for longer than a cut-off, with their
messages and feedback, move to the `*_archive` tables (same columns plus `archived_at`, no
foreign keys), in batches, each batch one short transaction, so the service keeps answering.

On PostgreSQL a batch locks its sessions (`FOR UPDATE SKIP LOCKED`): a follow-up arriving on
one of them waits for the batch and then finds the session archived (410 `session_archived`,
as does a question whose session was archived while it was answered), and a session being
written to is skipped rather than waited for. A session touched after the batch picked it is
not archived (the cut-off is checked again under the lock). Deleting an archived session
(`delete_archived`) removes its archived rows: DELETE is how a user removes their data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, DateTime, Index, String, Text, delete, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ragops.chat.models import ChatSession, Feedback, Message
from ragops.db import Database
from ragops.db.base import Base, utcnow
from ragops.errors import GoneError, NotFoundError, RagopsError


class ChatSessionArchive(Base):
    """An archived session."""

    __tablename__ = "chat_sessions_archive"
    __table_args__ = (Index("ix_chat_sessions_archive_tenant", "tenant_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), nullable=False)
    collection: Mapped[str] = mapped_column(String(63), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    archived_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class MessageArchive(Base):
    """A message of an archived session."""

    __tablename__ = "messages_archive"
    __table_args__ = (Index("ix_messages_archive_session", "session_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(36), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    mode: Mapped[str | None] = mapped_column(String(16), nullable=True)
    citations: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class FeedbackArchive(Base):
    """Feedback on a message of an archived session."""

    __tablename__ = "feedback_archive"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(36), nullable=False)
    rating: Mapped[str] = mapped_column(String(8), nullable=False)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


async def missing_session_error(
    connection: AsyncConnection | AsyncSession, tenant_id: str, session_id: str
) -> RagopsError:
    """The error of the tenant's session that is not among the live ones: 410
    `session_archived` when it is in the archive, else 404 `session_not_found`."""
    archived_at = await connection.scalar(
        select(ChatSessionArchive.archived_at).where(
            ChatSessionArchive.id == session_id, ChatSessionArchive.tenant_id == tenant_id
        )
    )
    if archived_at is None:
        return NotFoundError(f"session {session_id} not found", code="session_not_found")
    return GoneError(
        f"session {session_id} was archived on {archived_at:%Y-%m-%d} after a period "
        "without activity; start a new session (send no session_id)",
        code="session_archived",
    )


async def delete_archived(session: AsyncSession, tenant_id: str, session_id: str) -> bool:
    """Delete the tenant's archived session with its archived messages and feedback (in the
    caller's transaction); False when the tenant has no such archived session."""
    found = await session.execute(
        delete(ChatSessionArchive).where(
            ChatSessionArchive.id == session_id, ChatSessionArchive.tenant_id == tenant_id
        )
    )
    if getattr(found, "rowcount", 0) != 1:
        return False
    messages = select(MessageArchive.id).where(MessageArchive.session_id == session_id)
    await session.execute(delete(FeedbackArchive).where(FeedbackArchive.message_id.in_(messages)))
    await session.execute(delete(MessageArchive).where(MessageArchive.session_id == session_id))
    return True


@dataclass(slots=True)
class ArchiveResult:
    """What one archive run moved."""

    sessions: int = 0
    messages: int = 0
    feedback: int = 0
    batches: int = 0


async def archive_sessions(
    *, db: Database, older_than: timedelta, batch_size: int = 500, max_batches: int | None = None
) -> ArchiveResult:
    """Move sessions not updated for `older_than` (and their turns) to the archive tables."""
    cutoff = utcnow() - older_than
    result = ArchiveResult()
    while max_batches is None or result.batches < max_batches:
        moved = await _archive_batch(db, cutoff, batch_size)
        if moved is None:
            break
        result.sessions += moved[0]
        result.messages += moved[1]
        result.feedback += moved[2]
        result.batches += 1
    return result


async def _archive_batch(
    db: Database, cutoff: datetime, batch_size: int
) -> tuple[int, int, int] | None:
    pick = (
        select(ChatSession.id)
        .where(ChatSession.updated_at < cutoff)
        .order_by(ChatSession.updated_at)
        .limit(batch_size)
    )
    if db.backend == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    now = utcnow()
    async with db.session() as session, session.begin():
        picked = list((await session.execute(pick)).scalars().all())
        if not picked:
            return None
        # Checked again in every statement: on SQLite a writer may touch a session between
        # the pick and this transaction's first write (after which it holds the write lock).
        ids = select(ChatSession.id).where(
            ChatSession.id.in_(picked), ChatSession.updated_at < cutoff
        )
        message_ids = select(Message.id).where(Message.session_id.in_(ids))
        feedback = await session.execute(
            insert(FeedbackArchive).from_select(
                ["id", "message_id", "rating", "comment", "created_at"],
                select(
                    Feedback.id,
                    Feedback.message_id,
                    Feedback.rating,
                    Feedback.comment,
                    Feedback.created_at,
                ).where(Feedback.message_id.in_(message_ids)),
            )
        )
        messages = await session.execute(
            insert(MessageArchive).from_select(
                [
                    "id",
                    "session_id",
                    "role",
                    "content",
                    "mode",
                    "citations",
                    "request_id",
                    "created_at",
                ],
                select(
                    Message.id,
                    Message.session_id,
                    Message.role,
                    Message.content,
                    Message.mode,
                    Message.citations,
                    Message.request_id,
                    Message.created_at,
                ).where(Message.session_id.in_(ids)),
            )
        )
        sessions = await session.execute(
            insert(ChatSessionArchive).from_select(
                ["id", "tenant_id", "collection", "created_at", "updated_at", "archived_at"],
                select(
                    ChatSession.id,
                    ChatSession.tenant_id,
                    ChatSession.collection,
                    ChatSession.created_at,
                    ChatSession.updated_at,
                    literal(now, DateTime(timezone=True)),
                ).where(ChatSession.id.in_(ids)),
            )
        )
        await session.execute(delete(Feedback).where(Feedback.message_id.in_(message_ids)))
        await session.execute(delete(Message).where(Message.session_id.in_(ids)))
        await session.execute(delete(ChatSession).where(ChatSession.id.in_(ids)))
    return (
        int(getattr(sessions, "rowcount", 0)),
        int(getattr(messages, "rowcount", 0)),
        int(getattr(feedback, "rowcount", 0)),
    )
