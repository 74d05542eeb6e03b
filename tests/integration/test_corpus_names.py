"""A name the corpus holds does not refuse a question whose retrieved passages lack it: the
passage that holds it is looked up (BM25) and given to the answerer; a name no page holds
still refuses the question."""

from __future__ import annotations

import uuid
from pathlib import Path

from ragops.chat import service as chat
from ragops.chat.passages import retrieve
from ragops.db import migrate
from ragops.documents import service as documents
from ragops.runtime import Runtime
from tests.conftest import make_settings

NOT_FOUND = "I could not find anything about that in the indexed documents."

PAGING = b"""# Paging

## Acknowledging a page

The person on call acknowledges a page from the incident console or from the pager app.

## When nobody acknowledges

A page that nobody acknowledges in time goes to the next layer of the rota.
"""

SEVERITY = b"""# Severity levels

| level | meaning | response |
|---|---|---|
| Q1 | everything is down | at once |
| Q2 | a part is degraded; unacknowledged after 30 minutes it pages the team lead | 30 minutes |
| Q3 | cosmetic | next working day |
"""


async def ask(runtime: Runtime, question: str) -> tuple[str, list[str]]:
    response = await chat.answer(
        runtime.chat_deps,
        tenant_id="default",
        question=question,
        session_id=None,
        collection=None,
        request_id=uuid.uuid4().hex,
    )
    return response.answer, [c.section for c in response.citations]


async def test_a_name_outside_the_retrieved_passages_is_looked_up_in_the_corpus(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path / "var", top_k=1, answer_cache=False)
    await migrate.upgrade(settings)
    runtime = await Runtime.start(settings)
    try:
        for source, data in (("paging.md", PAGING), ("severity.md", SEVERITY)):
            await documents.ingest_bytes(
                runtime.ingest_deps,
                tenant_id="default",
                collection="default",
                source=source,
                data=data,
            )
        question = "If nobody acknowledges a Q2 page in time, who gets paged?"
        found, _, _ = await retrieve(
            runtime.chat_deps, tenant_id="default", query=question, collection="default"
        )
        assert all("Q2" not in p.text for p in found)  # retrieval alone misses the name
        answer, cited = await ask(runtime, question)
        assert answer != NOT_FOUND  # refused before: no retrieved passage named Q2
        assert cited
        # a name that no page holds still refuses the question
        answer, cited = await ask(runtime, "If nobody acknowledges a Kafka page, who gets paged?")
        assert (answer, cited) == (NOT_FOUND, [])
    finally:
        await runtime.aclose()
