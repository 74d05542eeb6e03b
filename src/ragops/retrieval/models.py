"""What the retriever takes and gives: a chunk to index (`ChunkInput`), a retrieved passage
(`Passage`, with its cosine scores) and a search's result (`RetrievalResult`). Re-exported by
`retrieval.service`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ragops.providers.vectorstore.base import StoredHit


@dataclass(frozen=True, slots=True)
class ChunkInput:
    """A chunk to index: point id (UUID string), the text to index, and the stored payload.

    `text` is what gets embedded and BM25-encoded (ingestion passes the chunk with its title
    and heading path in front); `context`, when given, is put before it as well. Neither is
    stored: the payload's `text` is what a passage shows.
    """

    id: str
    text: str
    payload: dict[str, Any]
    context: str = ""

    def index_text(self) -> str:
        """The text that is embedded and BM25-encoded."""
        return f"{self.context}\n{self.text}" if self.context else self.text


@dataclass(frozen=True, slots=True)
class Passage:
    """One retrieved chunk. `score` is its dense cosine similarity to the question."""

    chunk_id: str
    document_id: str
    version: int
    title: str
    section: str
    text: str
    start: int
    end: int
    ordinal: int
    score: float
    fused_score: float
    payload: dict[str, Any] = field(repr=False)
    point_id: str = ""
    second_score: float | None = None
    """The second embedder's cosine (`settings.second_embedder`), when it was used."""

    @classmethod
    def from_hit(
        cls,
        hit: StoredHit,
        *,
        score: float,
        fused_score: float,
        second_score: float | None = None,
    ) -> Passage:
        """A passage from a stored hit's payload."""
        p = hit.payload
        return cls(
            chunk_id=str(p.get("chunk_id", hit.id)),
            document_id=str(p.get("document_id", "")),
            version=int(p.get("version", 0)),
            title=str(p.get("title", "")),
            section=str(p.get("section", "")),
            text=str(p.get("text", "")),
            start=int(p.get("start", 0)),
            end=int(p.get("end", 0)),
            ordinal=int(p.get("ordinal", 0)),
            score=score,
            fused_score=fused_score,
            payload=p,
            point_id=hit.id,
            second_score=second_score,
        )


@dataclass(slots=True)
class RetrievalResult:
    """Passages (best first, cosine >= floor) and where the time went."""

    passages: list[Passage]
    embed_ms: float
    retrieve_ms: float
    candidates: int = 0
    """Fused candidates considered before the floor and the top-k cut."""
