"""Archiving and maintenance on SQLite and PostgreSQL: old sessions move with their messages
and feedback to the archive tables in batches, recent ones stay, an archived session is gone
from the API's point of view (410, also for a question it was archived under; DELETE removes
its archived rows); `ragops db archive` and `ragops db maintain` run from the CLI."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from ragops.chat.archive import (
    ChatSessionArchive,
    FeedbackArchive,
    MessageArchive,
    archive_sessions,
)
from ragops.chat.models import ChatSession, Feedback, FeedbackCreate, Message
from ragops.chat.sessions import delete_session, get_session, give_feedback
from ragops.chat.turns import Turns, store_turns
from ragops.config import Settings
from ragops.db import Database, migrate
from ragops.db.base import new_id, utcnow
from ragops.db.maintenance import maintain
from ragops.errors import GoneError, NotFoundError
from ragops.runtime import Runtime
from tests.conftest import RunningServer, run_cli


async def _session(db: Database, *, age_days: float, turns: int = 2, tenant: str = "t") -> str:
    session_id = new_id()
    when = utcnow() - timedelta(days=age_days)
    async with db.session() as session, session.begin():
        session.add(
            ChatSession(
                id=session_id,
                tenant_id=tenant,
                collection="default",
                created_at=when,
                updated_at=when,
            )
        )
        await session.flush()
        for turn in range(turns):
            for role in ("user", "assistant"):
                session.add(
                    Message(
                        id=new_id(),
                        session_id=session_id,
                        role=role,
                        content=f"{role} {turn}",
                        created_at=when + timedelta(seconds=turn),
                    )
                )
    return session_id


async def _count(db: Database, table: type) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def test_old_sessions_move_to_the_archive(settings: Settings) -> None:
    await migrate.upgrade(settings)
    db = Database(settings)
    try:
        old = [await _session(db, age_days=40 + i) for i in range(5)]
        recent = [await _session(db, age_days=3) for _ in range(2)]
        async with db.session() as session:
            answer = await session.scalar(
                select(Message.id).where(Message.session_id == old[0], Message.role == "assistant")
            )
        assert answer is not None
        await give_feedback(
            db, tenant_id="t", message_id=answer, feedback=FeedbackCreate(rating="up")
        )

        moved = await archive_sessions(db=db, older_than=timedelta(days=30), batch_size=2)
        assert (moved.sessions, moved.messages, moved.feedback) == (5, 20, 1)
        assert moved.batches == 3
        assert await _count(db, ChatSession) == 2 and await _count(db, Message) == 8
        assert await _count(db, Feedback) == 0
        assert await _count(db, ChatSessionArchive) == 5
        assert await _count(db, MessageArchive) == 20
        assert await _count(db, FeedbackArchive) == 1
        with pytest.raises(GoneError) as gone:
            await get_session(db, tenant_id="t", session_id=old[0])
        assert gone.value.code == "session_archived" and "new session" in gone.value.message
        with pytest.raises(NotFoundError):  # another tenant's archived session: not found
            await get_session(db, tenant_id="other", session_id=old[0])
        assert len((await get_session(db, tenant_id="t", session_id=recent[0])).messages) == 4

        again = await archive_sessions(db=db, older_than=timedelta(days=30))
        assert again.sessions == 0 and again.batches == 0
    finally:
        await db.dispose()


async def test_a_session_touched_meanwhile_is_kept(settings: Settings) -> None:
    await migrate.upgrade(settings)
    db = Database(settings)
    try:
        kept = await _session(db, age_days=45)
        async with db.session() as session, session.begin():  # a follow-up arrives
            await session.execute(
                update(ChatSession).where(ChatSession.id == kept).values(updated_at=utcnow())
            )
        moved = await archive_sessions(db=db, older_than=timedelta(days=30))
        assert moved.sessions == 0
        assert (await get_session(db, tenant_id="t", session_id=kept)).id == kept
        assert await maintain(settings) in (["VACUUM (ANALYZE)"], ["ANALYZE", "VACUUM"])
    finally:
        await db.dispose()


def test_cli_archive_and_maintain(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    archived = run_cli(data_dir, "db", "archive", "--older-than", "30d")
    # each summary line starts with the UTC time, for the cron logs (docs/deployment.md)
    stamp = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z "
    assert re.match(stamp + r"archived 0 sessions, 0 messages .* in 0 batches$", archived.stdout)
    maintained = run_cli(data_dir, "db", "maintain")
    assert re.match(stamp + "ran ANALYZE, VACUUM$", maintained.stdout)
    bad = run_cli(data_dir, "db", "archive", "--older-than", "thirty days", check=False)
    assert bad.returncode == 2 and "--older-than" in bad.stderr
    # a number past the cap is refused by saying the cap (it was "a positive number")
    for value in ("999999d", "0d", "-1d", "30x"):
        refused = run_cli(data_dir, "db", "archive", "--older-than", value, check=False)
        assert refused.returncode == 2 and "from 1 to 99999" in refused.stderr, value


def test_a_follow_up_on_an_archived_session_is_told_so(settings: Settings) -> None:
    """The client continuing an archived session gets 410 `session_archived` (start a new
    session), not the 404 of a session that never existed."""

    async def archived_session() -> str:
        await migrate.upgrade(settings)
        db = Database(settings)
        try:
            session_id = await _session(db, age_days=40, tenant="default")
            assert (await archive_sessions(db=db, older_than=timedelta(days=30))).sessions == 1
            return session_id
        finally:
            await db.dispose()

    session_id = asyncio.run(archived_session())
    server = RunningServer(settings)
    try:
        with server.start().client() as client:
            follow = client.post(
                "/v1/chat", json={"question": "and then?", "session_id": session_id}
            )
            assert follow.status_code == 410, follow.text
            assert follow.json()["error"]["code"] == "session_archived"
            assert "new session" in follow.json()["error"]["message"]
            shown = client.get(f"/v1/sessions/{session_id}")
            assert (shown.status_code, shown.json()["error"]["code"]) == (410, "session_archived")
            unknown = client.post("/v1/chat", json={"question": "hi", "session_id": "no-such"})
            assert unknown.json()["error"]["code"] == "session_not_found"
    finally:
        server.stop()


def test_deleting_an_archived_session_deletes_its_archived_rows(settings: Settings) -> None:
    """DELETE is how a user removes their data: an archived session is deleted (204) with
    its archived messages and feedback, not answered 404 as if it never existed; another
    tenant's DELETE finds nothing and removes nothing."""

    async def archived_session() -> tuple[str, str]:
        await migrate.upgrade(settings)
        db = Database(settings)
        try:
            kept = await _session(db, age_days=40, tenant="default")
            session_id = await _session(db, age_days=40, tenant="default")
            async with db.session() as session:
                answer = await session.scalar(
                    select(Message.id).where(
                        Message.session_id == session_id, Message.role == "assistant"
                    )
                )
            assert answer is not None
            await give_feedback(
                db, tenant_id="default", message_id=answer, feedback=FeedbackCreate(rating="up")
            )
            assert (await archive_sessions(db=db, older_than=timedelta(days=30))).sessions == 2
            with pytest.raises(NotFoundError):
                await delete_session(db, tenant_id="other", session_id=session_id)
            return session_id, kept
        finally:
            await db.dispose()

    async def archived_rows() -> tuple[int, int, int]:
        db = Database(settings)
        try:
            return (
                await _count(db, ChatSessionArchive),
                await _count(db, MessageArchive),
                await _count(db, FeedbackArchive),
            )
        finally:
            await db.dispose()

    session_id, kept = asyncio.run(archived_session())
    assert asyncio.run(archived_rows()) == (2, 8, 1)
    server = RunningServer(settings)
    try:
        with server.start().client() as client:
            deleted = client.delete(f"/v1/sessions/{session_id}")
            assert deleted.status_code == 204, deleted.text
            shown = client.get(f"/v1/sessions/{session_id}")
            assert (shown.status_code, shown.json()["error"]["code"]) == (404, "session_not_found")
            again = client.delete(f"/v1/sessions/{session_id}")
            assert (again.status_code, again.json()["error"]["code"]) == (404, "session_not_found")
            other = client.get(f"/v1/sessions/{kept}")  # the other archived session stays
            assert (other.status_code, other.json()["error"]["code"]) == (410, "session_archived")
    finally:
        server.stop()
    assert asyncio.run(archived_rows()) == (1, 4, 0)


async def test_a_session_archived_while_its_question_is_answered_is_410(
    settings: Settings,
) -> None:
    """The turns of a question whose session `ragops db archive` moved meanwhile are refused
    with 410 `session_archived` (start a new session), through the group commit and without
    it; a deleted one stays 404."""
    await migrate.upgrade(settings)
    runtime = await Runtime.start(settings)
    try:
        archived = await _session(runtime.db, age_days=40)
        deleted = await _session(runtime.db, age_days=1)
        assert (await archive_sessions(db=runtime.db, older_than=timedelta(days=30))).sessions == 1
        await delete_session(runtime.db, tenant_id="t", session_id=deleted)

        assert runtime.turns is not None
        results = await asyncio.gather(
            runtime.turns.write(_turns(archived)),
            runtime.turns.write(_turns(deleted)),
            return_exceptions=True,
        )
        assert isinstance(results[0], GoneError), results
        assert (results[0].status, results[0].code) == (410, "session_archived")
        assert "new session" in results[0].message
        assert isinstance(results[1], NotFoundError) and results[1].code == "session_not_found"

        with pytest.raises(GoneError) as alone:  # without the group commit
            await store_turns(
                runtime.db,
                None,
                tenant_id="t",
                session_id=archived,
                collection="default",
                new_session=False,
                question="and then?",
                answer="a",
                mode="extractive",
                citations=[],
                request_id="r",
            )
        assert alone.value.code == "session_archived"
    finally:
        await runtime.aclose()


def _turns(session_id: str) -> Turns:
    now = utcnow()
    message = {"session_id": session_id, "request_id": "r", "created_at": now}
    return Turns(
        tenant_id="t",
        session_id=session_id,
        collection="default",
        new_session=False,
        question={**message, "id": new_id(), "role": "user", "content": "q"},
        answer={**message, "id": new_id(), "role": "assistant", "content": "a", "mode": "x"}
        | {"citations": [], "created_at": now + timedelta(milliseconds=1)},
        at=now,
    )
