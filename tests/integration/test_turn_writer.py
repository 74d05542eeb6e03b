"""Session turns stored by group commit (`chat.turns`) on SQLite and PostgreSQL: answers
finished together share a transaction, every turn is in its session when the answer returns,
and a session deleted while its question was answered fails that answer alone."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from ragops.chat import service as chat
from ragops.chat.sessions import delete_session, get_session
from ragops.chat.turns import Turns
from ragops.db.base import new_id, utcnow
from ragops.documents.service import ingest_bytes
from ragops.errors import NotFoundError
from ragops.runtime import Runtime

DOC = b"# Connection pool\n\nThe pool keeps five connections open and grows to twenty.\n"
TENANT = "t1"


async def ask(runtime: Runtime, question: str, session_id: str | None = None) -> chat.ChatResponse:
    return await chat.answer(
        runtime.chat_deps,
        tenant_id=TENANT,
        question=question,
        session_id=session_id,
        collection=None,
        request_id=uuid.uuid4().hex,
    )


def turns(session_id: str, *, new: bool = False, text: str = "q") -> Turns:
    now = utcnow()
    message = {"session_id": session_id, "request_id": "r", "created_at": now}
    return Turns(
        tenant_id=TENANT,
        session_id=session_id,
        collection="default",
        new_session=new,
        question={**message, "id": new_id(), "role": "user", "content": text},
        answer={**message, "id": new_id(), "role": "assistant", "content": "a", "mode": "x"}
        | {"citations": [], "created_at": now + timedelta(milliseconds=1)},
        at=now,
    )


async def test_answers_finished_together_share_a_commit_and_keep_every_turn(
    runtime: Runtime,
) -> None:
    await ingest_bytes(
        runtime.ingest_deps, tenant_id=TENANT, collection="default", source="p.md", data=DOC
    )
    assert runtime.turns is not None
    first = await ask(runtime, "How many connections does the pool keep open?")
    before = runtime.turns.batches
    answers = await asyncio.gather(
        *(ask(runtime, f"How far does the pool grow? ({n})") for n in range(12)),
        *(ask(runtime, f"And open? ({n})", first.session_id) for n in range(4)),
    )
    assert runtime.turns.batches > before
    for response in answers[:12]:
        stored = await get_session(runtime.db, tenant_id=TENANT, session_id=response.session_id)
        assert [m.role for m in stored.messages] == ["user", "assistant"]
        assert stored.messages[1].id == response.message_id
        assert stored.messages[1].content == response.answer
        assert stored.messages[1].citations
    followed = await get_session(runtime.db, tenant_id=TENANT, session_id=first.session_id)
    assert len(followed.messages) == 2 + 2 * 4
    assert {m.content for m in followed.messages if m.role == "user"} >= {
        f"And open? ({n})" for n in range(4)
    }
    assert followed.updated_at > followed.created_at


async def test_turns_queued_together_are_one_transaction(runtime: Runtime) -> None:
    assert runtime.turns is not None
    before = runtime.turns.batches
    sessions = [new_id() for _ in range(12)]
    await asyncio.gather(*(runtime.turns.write(turns(s, new=True, text=s)) for s in sessions))
    assert runtime.turns.batches == before + 1
    for session_id in sessions:
        stored = await get_session(runtime.db, tenant_id=TENANT, session_id=session_id)
        assert [(m.role, m.content) for m in stored.messages] == [
            ("user", session_id),
            ("assistant", "a"),
        ]
        assert stored.messages[0].citations is None


async def test_a_deleted_session_fails_its_own_turns_only(runtime: Runtime) -> None:
    await ingest_bytes(
        runtime.ingest_deps, tenant_id=TENANT, collection="default", source="p.md", data=DOC
    )
    assert runtime.turns is not None
    kept = await ask(runtime, "How many connections does the pool keep open?")
    gone = await ask(runtime, "How far does the pool grow?")
    await delete_session(runtime.db, tenant_id=TENANT, session_id=gone.session_id)

    results = await asyncio.gather(
        runtime.turns.write(turns(kept.session_id)),
        runtime.turns.write(turns(gone.session_id)),
        return_exceptions=True,
    )
    assert results[0] is None
    assert isinstance(results[1], NotFoundError) and results[1].code == "session_not_found"
    stored = await get_session(runtime.db, tenant_id=TENANT, session_id=kept.session_id)
    assert len(stored.messages) == 4
    with pytest.raises(NotFoundError):
        await get_session(runtime.db, tenant_id=TENANT, session_id=gone.session_id)
