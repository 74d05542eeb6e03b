"""Passages that hold the names a question mentions, when retrieval's best ones do not.

The extractive answerer refuses a question naming something (a capitalised word, an acronym:
"P2", "Kafka") that none of its passages holds (`terms.missing_names`): a near-topic question
about another product is not answered by the page it resembles. But a name the corpus does
hold may simply rank below the cut: "if nobody acknowledges a P2 page, who gets paged next?"
retrieves the paging pages, and the severity table that names P2 is further down.

`with_named_passages` looks such names up before the answer is made: one BM25 search of the
question (`Retriever.sparse_passages`, NAME_CANDIDATES hits with their payloads) and, for each
missing name, the best of those hits that holds it (current document versions only) is added
after the retrieved passages, scored as the weakest of them. A name no chunk holds is still
missing, and the question is refused as before. Only questions whose names the passages lack
pay for the search (one sparse query, no embedding).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from ragops.chat.terms import holds_name, missing_names, name_text
from ragops.retrieval.service import Passage

NAME_CANDIDATES = 20
"""BM25 hits of the question searched for a passage holding each missing name."""


async def with_named_passages(
    question: str,
    passages: list[Passage],
    search: Callable[[str, int], Awaitable[list[Passage]]],
    visible: Callable[[Sequence[str]], Awaitable[set[str]]],
) -> list[Passage]:
    """`passages` and, for each name of `question` that none of them holds, the best
    passage of a BM25 search of the question (`search(query, limit)`) that holds it and is
    `visible` (a current version); unchanged when no name is missing or none is found."""
    if not passages:
        return passages
    missing = missing_names(question, [name_text(p) for p in passages])
    if not missing:
        return passages
    have = {p.chunk_id for p in passages}
    hits = [p for p in await search(question, NAME_CANDIDATES) if p.chunk_id not in have]
    if not hits:
        return passages
    shown = await visible([p.chunk_id for p in hits])
    weakest = min(passages, key=lambda p: (p.score, p.fused_score))
    added: list[Passage] = []
    for name in missing:
        for hit in hits:
            if hit.chunk_id in shown and holds_name(name, name_text(hit)):
                if hit not in added:
                    added.append(hit)
                break
    return passages + [
        replace(p, score=weakest.score, fused_score=weakest.fused_score) for p in added
    ]
