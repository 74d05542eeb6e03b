"""Action sections for procedure questions: "the pool is exhausted, what now?" is answered
by the Mitigation section of the page whose Meaning section retrieval found.

Retrieval finds the passage that describes the situation; the steps are often in another
section of the same document that shares few words with the question. For a question that
asks what to do (`chat.intent`), `add_action_sections` looks at the documents of the best
passages and, when none of their retrieved passages is an action section (Mitigation,
Resolution, Rollback, ...), adds the document's first action-section chunk right after the
passage that found it, with that passage's scores. One database query, only for procedure
questions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ragops.chat.intent import is_action_heading, question_kind
from ragops.db import Database
from ragops.documents import catalog
from ragops.retrieval.service import Passage

MAX_DOCUMENTS = 2
"""How many of the best passages' documents may contribute an action section."""


async def add_action_sections(
    db: Database, tenant_id: str, question: str, passages: Sequence[Passage]
) -> list[Passage]:
    """`passages` with action sections added for a procedure question (else unchanged)."""
    found = list(passages)
    if not found or question_kind(question) != "procedure":
        return found
    leads: dict[str, Passage] = {}
    for passage in found:
        if len(leads) == MAX_DOCUMENTS:
            break
        leads.setdefault(passage.document_id, passage)
    wanted = [
        document
        for document in leads
        if not any(p.document_id == document and is_action_heading(p.section) for p in found)
    ]
    rows = await catalog.document_chunks(db=db, tenant_id=tenant_id, document_ids=wanted)
    have = {p.chunk_id for p in found}
    added: dict[str, Passage] = {}
    for row in rows:
        lead = leads[row.document_id]
        if row.document_id in added or row.id in have or row.version != lead.version:
            continue
        if is_action_heading(row.section):
            added[row.document_id] = replace(
                lead,
                chunk_id=row.id,
                section=row.section,
                text=row.text,
                start=row.start_offset,
                end=row.end_offset,
                ordinal=row.ordinal,
                payload={
                    "document_id": row.document_id,
                    "section": row.section,
                    "quoted": row.quoted or [],
                },
                point_id=row.id,
            )
    out: list[Passage] = []
    for passage in found:
        out.append(passage)
        extra = added.pop(passage.document_id, None)
        if extra is not None:
            out.append(extra)
    return out
