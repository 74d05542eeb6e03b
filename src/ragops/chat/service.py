"""Chat service: from a question to a cited answer, stored in its session.

The path of one question: validate -> load the session's recent turns -> fold them into a
retrieval query -> hybrid retrieval scoped to the tenant and collection -> drop hits of
superseded document versions -> generate with the LLM (or answer extractively when no LLM is
configured or it fails) -> check the answer's citations against what was retrieved ->
store both turns (`chat.outcome`). `answer` returns the whole result; `answer_events` streams
it.

With an answer cache (`ragops.cache`), `prepare` looks the question up once its standalone
retrieval query is known, before retrieval: a hit skips retrieval and generation (the turns
are still stored in the session), and a grounded computed answer is remembered after `finish`.
The exact lookup comes before the gate (`chat.gate`): an exact hit holds no slot, so cheap
hits neither wait behind computed answers nor cap how many turns one commit can gather.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from ragops.cache.models import CacheStatus
from ragops.cache.service import AnswerCache, Lookup
from ragops.chat.gate import slot
from ragops.chat.generation import Generated, Generator
from ragops.chat.models import ChatResponse, Message
from ragops.chat.outcome import complete
from ragops.chat.passages import gather_passages
from ragops.chat.questions import checked_history, checked_question
from ragops.chat.sessions import load_session
from ragops.chat.turns import TurnWriter
from ragops.config import Settings
from ragops.config.names import validate_collection_name
from ragops.db import Database
from ragops.db.base import new_id
from ragops.documents import catalog
from ragops.errors import ConflictError, ValidationFailed
from ragops.providers.llm import ChatMessage
from ragops.retrieval.service import Passage, Retriever


@dataclass(frozen=True, slots=True)
class ChatDeps:
    """What answering needs."""

    settings: Settings
    db: Database
    retriever: Retriever
    generator: Generator
    answers: AnswerCache | None = None
    gate: asyncio.Semaphore | None = None
    """Admits `chat_concurrency` questions at a time, first come first served."""
    turns: TurnWriter | None = None
    """Stores answered turns by group commit (`chat.turns`); None: one transaction each."""


@dataclass(slots=True)
class Prepared:
    """A validated question with its context and retrieved passages."""

    question: str
    collection: str
    session_id: str
    session_exists: bool
    history: list[ChatMessage]
    passages: list[Passage]
    embed_ms: float
    retrieve_ms: float
    started: float = field(default_factory=time.perf_counter)
    lookup: Lookup | None = None
    query: str = ""
    """The standalone retrieval query (the question folded with its session's turns)."""

    @property
    def cache_status(self) -> CacheStatus:
        """How the answer is served: `hit-exact`, `hit-semantic` or `miss`."""
        return self.lookup.status if self.lookup is not None else "miss"

    @property
    def hit(self) -> bool:
        """Whether the answer cache already answered the question."""
        return self.lookup is not None and self.lookup.hit

    def cached(self) -> Generated | None:
        """The cached answer as a generation result, on a hit."""
        if self.lookup is None or self.lookup.entry is None:
            return None
        entry = self.lookup.entry
        return Generated(text=entry.answer, cited=[], mode=entry.mode, generate_ms=0.0)


async def resolve_collection(deps: ChatDeps, tenant_id: str, collection: str | None) -> str:
    """The collection to search: the one named (it must exist) or the default."""
    name = collection or deps.settings.default_collection
    try:
        validate_collection_name(name)
    except ValueError as exc:
        raise ValidationFailed(str(exc), code="invalid_collection") from exc
    await catalog.require_collection(
        db=deps.db, tenant_id=tenant_id, name=name, default=deps.settings.default_collection
    )
    return name


async def _history(deps: ChatDeps, session_id: str) -> list[ChatMessage]:
    turns = deps.settings.history_turns
    if turns == 0:
        return []
    async with deps.db.session() as session:
        rows = (
            await session.execute(
                select(Message.role, Message.content)
                .where(Message.session_id == session_id)
                .order_by(Message.created_at.desc(), Message.id.desc())
                .limit(turns * 2)
            )
        ).all()
    return [
        ChatMessage(role="user" if role == "user" else "assistant", content=content)
        for role, content in reversed(rows)
    ]


async def prepare(
    deps: ChatDeps,
    *,
    tenant_id: str,
    question: str,
    session_id: str | None,
    collection: str | None,
) -> Prepared:
    """Validate, load context, look the question up and retrieve; raises 4xx errors before
    any answer starts. An exact cache hit needs no slot of the gate; anything else waits for
    one before the rest of the lookup and retrieval (see `answer`)."""
    return await _gathered(
        deps, tenant_id, await _understand(deps, tenant_id, question, session_id, collection)
    )


async def _gathered(deps: ChatDeps, tenant_id: str, prepared: Prepared) -> Prepared:
    """`prepared` with its passages: an exact hit needs no slot of the gate, anything else
    waits for one before the semantic lookup and retrieval (`chat.passages`)."""
    if not prepared.hit:
        async with slot(deps):
            await gather_passages(deps, tenant_id, prepared)
    return prepared


async def prepare_conversation(
    deps: ChatDeps,
    *,
    tenant_id: str,
    question: str,
    history: Sequence[ChatMessage],
    collection: str | None,
) -> Prepared:
    """`prepare` for a conversation sent whole (the OpenAI-compatible route): its history
    comes with the request and no session is stored; the lookups, the gate, retrieval and the
    scope check are the same, so both routes answer a question alike (and share its cache)."""
    started = time.perf_counter()
    text = await checked_question(deps.settings, question)
    await checked_history(deps.settings, history)
    name = await resolve_collection(deps, tenant_id, collection)
    prepared = await _looked_up(deps, tenant_id, text, name, list(history), started=started)
    prepared.session_id = ""
    return await _gathered(deps, tenant_id, prepared)


async def _understand(
    deps: ChatDeps,
    tenant_id: str,
    question: str,
    session_id: str | None,
    collection: str | None,
) -> Prepared:
    """The checked question in its context (session, collection, retrieval query) with the
    exact answer-cache lookup: database reads and light work, done outside the gate."""
    started = time.perf_counter()
    text = await checked_question(deps.settings, question)
    history: list[ChatMessage] = []
    if session_id is not None:
        chat_session = await load_session(deps.db, tenant_id, session_id)
        if collection is not None and collection != chat_session.collection:
            raise ConflictError(  # a valid request that clashes with the session's state
                f"session {session_id} belongs to collection {chat_session.collection!r}",
                code="collection_mismatch",
            )
        name = chat_session.collection
        history = await _history(deps, session_id)
    else:
        name = await resolve_collection(deps, tenant_id, collection)
    return await _looked_up(
        deps, tenant_id, text, name, history, started=started, session_id=session_id
    )


async def _looked_up(
    deps: ChatDeps,
    tenant_id: str,
    text: str,
    name: str,
    history: list[ChatMessage],
    *,
    started: float,
    session_id: str | None = None,
) -> Prepared:
    """The question with its retrieval query and the exact answer-cache lookup's result."""
    query = deps.generator.retrieval_query(text, history)
    lookup = None
    if deps.answers is not None:
        lookup = await deps.answers.lookup_exact(
            tenant_id=tenant_id,
            collection=name,
            question=text,
            query=query,
            follow_up=any(m.role == "user" for m in history),
        )
    return Prepared(
        question=text,
        collection=name,
        session_id=session_id or new_id(),
        session_exists=session_id is not None,
        history=history,
        passages=[],
        embed_ms=0.0,
        retrieve_ms=0.0,
        started=started,
        lookup=lookup,
        query=query,
    )


async def answer(
    deps: ChatDeps,
    *,
    tenant_id: str,
    question: str,
    session_id: str | None,
    collection: str | None,
    request_id: str,
) -> ChatResponse:
    """Answer a question in one piece. An exact cache hit is served without a slot of the
    gate (about a millisecond of CPU, the rest waiting for the database); anything else
    holds a slot throughout, except while an LLM writes the answer (waiting on a provider
    costs this process nothing)."""
    prepared = await _understand(deps, tenant_id, question, session_id, collection)
    generated = prepared.cached()
    if generated is not None:
        return await complete(deps, tenant_id, prepared, generated, request_id)
    async with slot(deps):
        await gather_passages(deps, tenant_id, prepared)
        generated = prepared.cached()
        if generated is None and deps.generator.llm is None:
            generated = await deps.generator.generate(
                prepared.question, prepared.history, prepared.passages
            )
        if generated is not None:
            return await complete(deps, tenant_id, prepared, generated, request_id)
    generated = await deps.generator.generate(
        prepared.question, prepared.history, prepared.passages
    )
    async with slot(deps):
        return await complete(deps, tenant_id, prepared, generated, request_id)


async def generate(deps: ChatDeps, prepared: Prepared) -> Generated:
    """The answer of a prepared question without storing it (the OpenAI-compatible route):
    the cached one on a hit; an extractive answer is composed holding a slot of the gate, as
    `answer` composes it, while an LLM writes without one."""
    cached = prepared.cached()
    if cached is not None:
        return cached
    if deps.generator.llm is not None:
        return await deps.generator.generate(prepared.question, prepared.history, prepared.passages)
    async with slot(deps):
        return await deps.generator.generate(prepared.question, prepared.history, prepared.passages)


async def answer_events(
    deps: ChatDeps, *, tenant_id: str, prepared: Prepared, request_id: str
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """Stream an answer as (event, data) pairs: `start`, `token`..., maybe `reset`, `done`.

    `reset` tells the client to discard the tokens so far: the LLM failed mid-answer and the
    extractive fallback follows. Validation already happened in `prepare`.
    """
    yield (
        "start",
        {
            "session_id": prepared.session_id,
            "request_id": request_id,
            "collection": prepared.collection,
        },
    )
    generated: Generated | None = None
    async for kind, payload in stream_answer(deps, prepared):
        if kind == "token":
            yield "token", {"text": payload}
        elif kind == "reset":
            yield "reset", {"reason": payload}
        elif kind == "final" and isinstance(payload, Generated):
            generated = payload
    if generated is None:  # pragma: no cover - the generator always ends with "final"
        raise RuntimeError("the answer stream ended without a result")
    response = await complete(deps, tenant_id, prepared, generated, request_id)
    yield "done", response.model_dump(mode="json")


async def stream_answer(
    deps: ChatDeps, prepared: Prepared, *, allow_reset: bool = True
) -> AsyncIterator[tuple[str, object]]:
    """The generator's stream items, or on a cache hit the cached answer as one token."""
    cached = prepared.cached()
    if cached is not None:
        yield "token", cached.text
        yield "final", cached
        return
    async for item in deps.generator.stream(
        prepared.question, prepared.history, prepared.passages, allow_reset=allow_reset
    ):
        yield item
