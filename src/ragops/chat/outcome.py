"""What follows an answer (`chat.service`): its citations (the cached ones on a cache hit, else
those of the passages it cites, their snippets redacted as the answer is), the question and
answer stored as the session's two turns, the response with its timings, and a freshly
computed answer remembered in the answer cache (which keeps only grounded ones).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ragops.chat.citations import citations_for
from ragops.chat.generation import Generated
from ragops.chat.models import ChatResponse, Citation, Timings
from ragops.chat.turns import store_turns

if TYPE_CHECKING:
    from ragops.chat.service import ChatDeps, Prepared


async def remember(
    deps: ChatDeps,
    *,
    tenant_id: str,
    prepared: Prepared,
    generated: Generated,
    citations: Sequence[Citation],
) -> None:
    """Cache a freshly computed answer (the cache keeps only grounded ones) with the citations
    its response carried (`answer_citations`: built and redacted once per answer)."""
    if deps.answers is None or prepared.lookup is None or prepared.hit:
        return
    await deps.answers.remember(
        prepared.lookup,
        tenant_id=tenant_id,
        answer=generated.text,
        citations=[c.model_dump() for c in citations],
        mode=generated.mode,
        fallback_reason=generated.fallback_reason,
    )


def answer_citations(deps: ChatDeps, prepared: Prepared, generated: Generated) -> list[Citation]:
    """The answer's citations: the cached ones on a hit (stored redacted), else those of the
    passages cited."""
    if prepared.lookup is not None and prepared.lookup.entry is not None:
        return [Citation.model_validate(c) for c in prepared.lookup.entry.citations]
    return citations_for(  # snippets redacted by the output guard, as extractive answers are
        prepared.passages,
        generated.cited,
        redact=deps.generator.guard.redact,
        renumbered=generated.renumbered,
    )


async def finish(
    deps: ChatDeps,
    *,
    tenant_id: str,
    prepared: Prepared,
    generated: Generated,
    request_id: str,
) -> ChatResponse:
    """Store the turns and build the response."""
    citations = answer_citations(deps, prepared, generated)
    message_id = await store_turns(
        deps.db,
        deps.turns,
        tenant_id=tenant_id,
        session_id=prepared.session_id,
        collection=prepared.collection,
        new_session=not prepared.session_exists,
        question=prepared.question,
        answer=generated.text,
        mode=generated.mode,
        citations=[c.model_dump() for c in citations],
        request_id=request_id,
    )
    total_ms = (time.perf_counter() - prepared.started) * 1000
    return ChatResponse(
        answer=generated.text,
        citations=citations,
        mode=generated.mode,
        session_id=prepared.session_id,
        message_id=message_id,
        request_id=request_id,
        timings=Timings(
            embed_ms=round(prepared.embed_ms, 2),
            retrieve_ms=round(prepared.retrieve_ms, 2),
            generate_ms=round(generated.generate_ms, 2),
            total_ms=round(total_ms, 2),
        ),
        fallback_reason=generated.fallback_reason,
        cache=prepared.cache_status,
    )


async def complete(
    deps: ChatDeps, tenant_id: str, prepared: Prepared, generated: Generated, request_id: str
) -> ChatResponse:
    """Store the turns, build the response, remember the answer in the cache."""
    response = await finish(
        deps, tenant_id=tenant_id, prepared=prepared, generated=generated, request_id=request_id
    )
    await remember(
        deps,
        tenant_id=tenant_id,
        prepared=prepared,
        generated=generated,
        citations=response.citations,
    )
    return response
