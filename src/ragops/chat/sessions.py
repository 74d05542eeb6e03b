"""Chat sessions as stored: read a session with its turns, delete it, and record feedback
on its answers. Every function is scoped to one tenant; another tenant's session or message
is "not found". A session moved to the archive (`ragops db archive`) is "gone" (410
`session_archived`): its turns are not loaded back, a new session is needed; deleting it
deletes its archived rows."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ragops.chat.archive import delete_archived, missing_session_error
from ragops.chat.models import (
    ChatSession,
    Citation,
    Feedback,
    FeedbackCreate,
    FeedbackRead,
    Message,
    MessageRead,
    SessionRead,
)
from ragops.db import Database
from ragops.db.base import new_id, utcnow
from ragops.errors import NotFoundError, ValidationFailed


async def load_session(db: Database, tenant_id: str, session_id: str) -> ChatSession:
    """The tenant's session, or NotFoundError (another tenant's session is "not found");
    GoneError when the tenant's session was archived."""
    async with db.session() as session:
        found = await session.get(ChatSession, session_id)
        if found is None or found.tenant_id != tenant_id:
            raise await missing_session_error(session, tenant_id, session_id)
    return found


async def get_session(db: Database, *, tenant_id: str, session_id: str) -> SessionRead:
    """A session and its messages; NotFoundError when not the tenant's."""
    chat_session = await load_session(db, tenant_id, session_id)
    async with db.session() as session:
        rows = (
            (
                await session.execute(
                    select(Message)
                    .where(Message.session_id == session_id)
                    .order_by(Message.created_at, Message.id)
                )
            )
            .scalars()
            .all()
        )
    return SessionRead(
        id=chat_session.id,
        collection=chat_session.collection,
        created_at=chat_session.created_at,
        updated_at=chat_session.updated_at,
        messages=[
            MessageRead(
                id=row.id,
                role=row.role,
                content=row.content,
                mode=row.mode,
                citations=[Citation(**c) for c in row.citations] if row.citations else None,
                created_at=row.created_at,
            )
            for row in rows
        ],
    )


async def delete_session(db: Database, *, tenant_id: str, session_id: str) -> None:
    """Delete a session with its messages and feedback; an archived one with its archived
    messages and feedback. NotFoundError when the tenant has neither."""
    async with db.session() as session, session.begin():
        result = await session.execute(
            delete(ChatSession).where(
                ChatSession.id == session_id, ChatSession.tenant_id == tenant_id
            )
        )
        if getattr(result, "rowcount", 0) != 1 and not await delete_archived(
            session, tenant_id, session_id
        ):
            raise NotFoundError(f"session {session_id} not found", code="session_not_found")


async def give_feedback(
    db: Database, *, tenant_id: str, message_id: str, feedback: FeedbackCreate
) -> FeedbackRead:
    """Record (or replace) the verdict on one of the tenant's answers. Two verdicts sent at
    once on an answer that had none race to insert; the loser replaces the winner's."""
    try:
        return await _give_feedback(
            db, tenant_id=tenant_id, message_id=message_id, feedback=feedback
        )
    except IntegrityError:
        return await _give_feedback(
            db, tenant_id=tenant_id, message_id=message_id, feedback=feedback
        )


async def _give_feedback(
    db: Database, *, tenant_id: str, message_id: str, feedback: FeedbackCreate
) -> FeedbackRead:
    async with db.session() as session, session.begin():
        row = (
            await session.execute(
                select(Message, ChatSession.tenant_id)
                .join(ChatSession, ChatSession.id == Message.session_id)
                .where(Message.id == message_id)
            )
        ).one_or_none()
        if row is None or row[1] != tenant_id:
            raise NotFoundError(f"message {message_id} not found", code="message_not_found")
        if row[0].role != "assistant":
            raise ValidationFailed(
                "feedback is given on answers, not on questions", code="not_an_answer"
            )
        existing = (
            await session.execute(select(Feedback).where(Feedback.message_id == message_id))
        ).scalar_one_or_none()
        if existing is None:
            existing = Feedback(id=new_id(), message_id=message_id, created_at=utcnow())
            session.add(existing)
        existing.rating = feedback.rating
        existing.comment = feedback.comment
        existing.created_at = utcnow()
        await session.flush()
        return FeedbackRead(
            id=existing.id,
            message_id=message_id,
            rating=existing.rating,
            comment=existing.comment,
            created_at=existing.created_at,
        )
