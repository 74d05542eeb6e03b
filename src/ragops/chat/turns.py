"""Storing the turns of answered questions: one transaction for every answer finished at the
same time (group commit).

Each answer's two turns (the question and the answer, plus its session when new) used to
take a database transaction of their own; under load the transactions queued one behind the
other on the database connection. `TurnWriter.write` now queues the turns and waits for
them: a single writer task commits everything queued in one transaction, then wakes every
waiter. Nothing is delayed on purpose: while one commit runs, the turns of the answers that
finish meanwhile gather for the next one, so a quiet service commits each answer alone and a
busy one commits many at once.

Sessions stay exact: `write` returns only once its turns are committed, so the response (and
so any follow-up question or `GET /v1/sessions/{id}`, on any instance) comes after them; a
failed write fails its own request, as before, and no turn is dropped in silence. A turn of
a session deleted while its question was answered is refused (404 `session_not_found`; 410
`session_archived` when `ragops db archive` moved it meanwhile) without failing the others of
its batch; a batch the database refuses for any other reason is
retried one answer at a time, so one bad turn cannot fail its neighbours.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update

from ragops.chat.archive import missing_session_error
from ragops.chat.models import ChatSession, Message
from ragops.db import Database
from ragops.db.base import new_id, utcnow
from ragops.errors import RagopsError

SESSIONS = cast(Table, ChatSession.__table__)
MESSAGES = cast(Table, Message.__table__)

logger = logging.getLogger(__name__)

MAX_BATCH = 256
"""Answers committed in one transaction at most."""


@dataclass(frozen=True, slots=True)
class Turns:
    """One answered question as stored: its session (created when `new_session`) and the
    question and answer messages."""

    tenant_id: str
    session_id: str
    collection: str
    new_session: bool
    question: dict[str, Any]
    answer: dict[str, Any]
    at: datetime


class TurnWriter:
    """Group commit of session turns for one process (see the module docstring)."""

    def __init__(self, db: Database, *, max_batch: int = MAX_BATCH) -> None:
        self.db = db
        self.max_batch = max_batch
        self._queue: list[tuple[Turns, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        """Transactions committed so far (a figure for tests and benchmarks)."""

    async def write(self, turns: Turns) -> None:
        """Store `turns`; returns once they are committed (raises what storing raised)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((turns, done))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="chat-turn-writer")
        await asyncio.shield(done)  # a cancelled request still has its turns committed

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            try:
                await self._commit(batch)
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch, error=exc)
                    continue
                logger.warning("a batch of %d answers' turns failed; one at a time", len(batch))
                for one in batch:
                    try:
                        await self._commit([one])
                    except Exception as exc:
                        _settle([one], error=exc)
            except BaseException as exc:  # cancelled at shutdown: nobody waits for ever
                _settle(batch + self._queue, error=exc)
                self._queue = []
                raise

    async def _commit(self, batch: list[tuple[Turns, asyncio.Future[None]]]) -> None:
        """Commit the batch's turns in one transaction; settles every future of the batch."""
        existing = {t.session_id for t, _ in batch if not t.new_session}
        refused: list[tuple[Turns, asyncio.Future[None]]] = []
        errors: dict[str, RagopsError] = {}
        async with self.db.engine.begin() as connection:  # core statements, no ORM session
            if existing:
                found = set(
                    (
                        await connection.execute(
                            select(SESSIONS.c.id).where(SESSIONS.c.id.in_(existing))
                        )
                    ).scalars()
                )
                refused = [pair for pair in batch if _gone(pair[0], found)]
                batch = [pair for pair in batch if not _gone(pair[0], found)]
                for turns, _ in refused:
                    errors[turns.session_id] = await missing_session_error(
                        connection, turns.tenant_id, turns.session_id
                    )
            new = [t for t, _ in batch if t.new_session]
            if new:
                await connection.execute(
                    insert(SESSIONS),
                    [
                        {
                            "id": t.session_id,
                            "tenant_id": t.tenant_id,
                            "collection": t.collection,
                            "created_at": t.at,
                            "updated_at": t.at,
                        }
                        for t in new
                    ],
                )
            touched = [t for t, _ in batch if not t.new_session]
            if touched:
                await connection.execute(
                    update(SESSIONS)
                    .where(SESSIONS.c.id == bindparam("sid"))
                    .values(updated_at=bindparam("at")),
                    [{"sid": t.session_id, "at": t.at} for t in touched],
                )
            if batch:  # two statements: a question has no mode or citations (NULL, not null)
                await connection.execute(insert(MESSAGES), [t.question for t, _ in batch])
                await connection.execute(insert(MESSAGES), [t.answer for t, _ in batch])
        self.batches += 1
        _settle(batch)
        for turns, future in refused:
            _settle([(turns, future)], error=errors[turns.session_id])

    async def aclose(self) -> None:
        """Wait for the turns still queued (called at shutdown)."""
        if self._task is not None and not self._task.done():
            try:
                await self._task
            except Exception:  # already handed to the waiting requests
                pass


def _settle(
    batch: list[tuple[Turns, asyncio.Future[None]]], *, error: BaseException | None = None
) -> None:
    for _turns, future in batch:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


def _gone(turns: Turns, found: set[str]) -> bool:
    return not turns.new_session and turns.session_id not in found


async def store_turns(
    db: Database,
    writer: TurnWriter | None,
    *,
    tenant_id: str,
    session_id: str,
    collection: str,
    new_session: bool,
    question: str,
    answer: str,
    mode: str,
    citations: list[dict[str, Any]],
    request_id: str,
) -> str:
    """Store a question and its answer (and the session when new); the answer's message id.

    Through `writer` (group commit) when there is one, else in a transaction of its own. A
    session deleted while its question was answered: `NotFoundError` (`session_not_found`);
    archived meanwhile: `GoneError` (`session_archived`)."""
    message_id = new_id()
    now = utcnow()
    asked = {"session_id": session_id, "role": "user", "content": question}
    answered = {
        "session_id": session_id,
        "role": "assistant",
        "content": answer,
        "mode": mode,
        "citations": citations,
    }
    if writer is not None:
        await writer.write(
            Turns(
                tenant_id=tenant_id,
                session_id=session_id,
                collection=collection,
                new_session=new_session,
                question={"id": new_id(), **asked, "request_id": request_id, "created_at": now},
                answer={
                    "id": message_id,
                    **answered,
                    "request_id": request_id,
                    "created_at": utcnow(),
                },
                at=now,
            )
        )
        return message_id
    async with db.session() as session, session.begin():
        if new_session:
            session.add(
                ChatSession(
                    id=session_id,
                    tenant_id=tenant_id,
                    collection=collection,
                    created_at=now,
                    updated_at=now,
                )
            )
            await session.flush()
        else:
            existing = await session.get(ChatSession, session_id)
            if existing is None:  # deleted or archived while we were answering
                raise await missing_session_error(session, tenant_id, session_id)
            existing.updated_at = now
        session.add(Message(id=new_id(), **asked, request_id=request_id, created_at=now))
        session.add(Message(id=message_id, **answered, request_id=request_id, created_at=utcnow()))
    return message_id
