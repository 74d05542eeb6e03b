"""The passages a question is answered from: retrieval, then what the chat service adds to it.

`retrieve` searches the tenant's collection (hybrid by default), keeps current document versions
only, and ranks the sections the question names by heading first (`chat.sections`).
`gather_passages` runs inside the chat gate after an exact-cache miss: the semantic lookup,
then on a miss retrieval, the action sections, command chunks, the rest of cut steps and the
start of a section defining what is asked of what was found, the passages the question names
(extractive mode) and the scope check (both modes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragops.chat.corpus_names import with_named_passages
from ragops.chat.scope import in_scope
from ragops.chat.sections import (
    HEADING_CANDIDATES,
    add_action_sections,
    add_command_chunks,
    add_cut_steps,
    add_definition_start,
    promote_named_sections,
    rank_by_headings,
    set_repeats_aside,
)
from ragops.documents import catalog
from ragops.observability import metrics
from ragops.observability.tracing import span
from ragops.providers.vectorstore import SearchScope
from ragops.retrieval.service import Passage

if TYPE_CHECKING:
    from ragops.chat.service import ChatDeps, Prepared

NAMED_SECTION_CANDIDATES = 5
"""Candidates retrieved beyond `top_k` from which a section the question names by its heading
may take a place (`chat.sections.promote_named_sections`)."""


async def retrieve(
    deps: ChatDeps,
    *,
    tenant_id: str,
    query: str,
    collection: str,
) -> tuple[list[Passage], float, float]:
    """Passages for `query` from the tenant's collection, current document versions only."""
    with span("retrieve", collection=collection):
        result = await deps.retriever.search(
            query,
            SearchScope(tenant_id=tenant_id, collection=collection),
            top_k=max(HEADING_CANDIDATES, deps.settings.top_k + NAMED_SECTION_CANDIDATES),
        )
    metrics.observe_stage("embed", result.embed_ms / 1000)
    metrics.observe_stage("retrieve", result.retrieve_ms / 1000)
    visible = await catalog.visible_chunks(
        db=deps.db, tenant_id=tenant_id, chunk_ids=[p.chunk_id for p in result.passages]
    )
    passages = [p for p in result.passages if p.chunk_id in visible]
    passages = set_repeats_aside(rank_by_headings(query, passages))
    passages = passages[: deps.settings.top_k + NAMED_SECTION_CANDIDATES]
    passages = promote_named_sections(query, passages, deps.settings.top_k)
    return passages, result.embed_ms, result.retrieve_ms


async def gather_passages(deps: ChatDeps, tenant_id: str, prepared: Prepared) -> None:
    """After an exact miss, inside the gate: the semantic lookup, then on a miss retrieval."""
    if deps.answers is not None and prepared.lookup is not None:
        await deps.answers.lookup_semantic(prepared.lookup, tenant_id=tenant_id)
    if prepared.hit:
        return
    passages, prepared.embed_ms, prepared.retrieve_ms = await retrieve(
        deps, tenant_id=tenant_id, query=prepared.query, collection=prepared.collection
    )
    passages = await add_action_sections(deps.db, tenant_id, prepared.question, passages)
    passages = await add_command_chunks(deps.db, tenant_id, prepared.question, passages)
    passages = await add_cut_steps(deps.db, tenant_id, prepared.question, passages)
    passages = await add_definition_start(deps.db, tenant_id, prepared.question, passages)
    if passages:
        scope = SearchScope(tenant_id=tenant_id, collection=prepared.collection)
        if deps.generator.llm is None:
            passages = await with_named_passages(
                prepared.question,
                passages,
                lambda query, limit: deps.retriever.sparse_passages(query, scope, limit),
                lambda ids: catalog.visible_chunks(db=deps.db, tenant_id=tenant_id, chunk_ids=ids),
            )
        # In both modes: an LLM would be asked about passages of another subject.
        passages = await in_scope(deps.retriever, scope, prepared.question, passages)
    prepared.passages = passages
