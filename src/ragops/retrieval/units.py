"""The units of a chunk whose vectors back the sentence-level signal
(`RAGOPS_SENTENCE_VECTORS`): the chunk's title as a unit of its own, then the sentences of its
text, cut by the splitter the extractive answerer uses (`text.sentences`), at most
`MAX_UNITS` in all. Each unit is embedded once at ingestion; at question time a candidate's
score is its best unit's cosine to the question (MaxSim, `VectorStore.sentence_scores`).

Sentences are not clipped here: the embedder reads the first word pieces of each, as it
reads a chunk's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ragops.text.sentences import text_sentences

MAX_UNITS = 32
"""Most units (title included) embedded per chunk; a chunk of about 1,200 characters holds
8 to 15 sentences, so only lists of very short items reach it."""
SENTENCE_CANDIDATES = 100
"""The fused candidates whose best sentence is scored at question time (the replay's)."""
SENTENCE_WEIGHT = 1.0
"""Weight of the sentence ranking in fusion, beside the dense and BM25 weights."""
UNBOUNDED = 1_000_000


def chunk_units(payload: Mapping[str, Any], fallback: str = "") -> list[str]:
    """The title (when there is one) and the sentences of the chunk's stored text, in order,
    at most `MAX_UNITS`; `fallback` (the indexed text) when both are empty."""
    title = str(payload.get("title", "")).strip()
    sentences = text_sentences(str(payload.get("text", "")), UNBOUNDED)
    units = ([title] if title else []) + sentences
    if not units and fallback.strip():
        units = [fallback.strip()]
    return units[:MAX_UNITS]
