"""The retriever: question in, the best passages of one tenant out, each with a cosine score.

`Retriever.search` runs BM25 (sparse) and dense search in the vector store, fuses the two
rankings (`retrieval.fusion`), optionally reranks (`retrieval.rerank`), and returns at most
`top_k` passages. Every returned passage carries `score`, its dense cosine similarity to the
question — also for passages only BM25 found, whose vectors the sparse search returns — and
passages below `settings.score_floor` are dropped. An unrelated question therefore yields an
empty list: that is how the answerer knows nothing relevant was found.

With `settings.sentence_vectors`, hybrid search fuses a third ranking after the first fusion:
each of the 100 best fused candidates' best sentence cosine to the question
(`retrieval.units`, one `VectorStore.sentence_scores` call), when the store holds sentence
vectors for every one of them. `score` and the floor stay the whole chunk's cosine.

`Retriever.build_points` is the indexing half: it embeds and BM25-encodes chunk texts into
`ChunkPoint`s for the store, with `sentence_vectors` each chunk's units too (`index_chunks`
also stores them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ragops.config.settings import Settings
from ragops.providers.embedder.base import Embedder
from ragops.providers.vectorstore.base import ChunkPoint, SearchScope, StoredHit, VectorStore
from ragops.retrieval.fusion import fuse, fuse_rankings
from ragops.retrieval.rerank import Reranker, create_reranker
from ragops.retrieval.sparse import Bm25Encoder
from ragops.retrieval.units import SENTENCE_CANDIDATES, SENTENCE_WEIGHT, chunk_units
from ragops.workers import run_blocking

SearchMode = Literal["hybrid", "dense", "bm25"]


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

    @classmethod
    def from_hit(cls, hit: StoredHit, *, score: float, fused_score: float) -> Passage:
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
        )


@dataclass(slots=True)
class RetrievalResult:
    """Passages (best first, cosine >= floor) and where the time went."""

    passages: list[Passage]
    embed_ms: float
    retrieve_ms: float
    candidates: int = 0
    """Fused candidates considered before the floor and the top-k cut."""


def _cosine(hit: StoredHit, query: npt.NDArray[np.float32]) -> float:
    if hit.dense is None:
        return 0.0  # the store did not return the vector: treated as unrelated
    return float(np.dot(hit.dense, query))


def _next_batch(
    fused: Sequence[tuple[str, float]],
    start: int,
    wanted: int,
    cosine: dict[str, float],
    floor: float,
) -> tuple[list[tuple[str, float]], int]:
    """The next fused candidates worth fetching from position `start`, and where the batch
    after them starts: a candidate the dense search scored below `floor` is skipped unread (it
    would be dropped after fetching), and the batch ends once it holds `wanted` candidates the
    dense search scored at or above it; a BM25-only candidate, whose cosine is known only once
    its vector is read, is fetched but not counted. One fetch then usually suffices (another
    follows only if points were deleted meanwhile), and the passages kept are those a fetch of
    every candidate in order would keep."""
    batch: list[tuple[str, float]] = []
    sure = 0
    at = start
    while at < len(fused) and sure < wanted:
        item = fused[at]
        at += 1
        score = cosine.get(item[0])
        if score is not None and score < floor:
            continue
        batch.append(item)
        sure += score is not None
    return batch, at


def _settle(task: asyncio.Task[list[StoredHit]] | None) -> None:
    """Cancel a search task nobody waits for any more, or mark its error as seen."""
    if task is None:
        return
    if not task.done():
        task.cancel()
    elif not task.cancelled():
        task.exception()


class Retriever:
    """Hybrid (dense + BM25) search over one tenant's chunks, and chunk indexing."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        store: VectorStore,
        encoder: Bm25Encoder | None = None,
        reranker: Reranker | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.encoder = encoder or Bm25Encoder()
        self.reranker = reranker or create_reranker(settings.reranker)
        self.sentence_floor = False
        """An experiment of the benchmarks (bench/retrieval.py, bench/answers.py), not a
        setting: with sentence scores, a passage passes the floor on the better of its cosine
        and its best sentence's, as long as one kept passage passes it on its own cosine."""

    async def build_points(self, chunks: Sequence[ChunkInput]) -> list[ChunkPoint]:
        """Embed and BM25-encode chunks into points (not yet stored)."""
        if not chunks:
            return []
        texts = [chunk.index_text() for chunk in chunks]
        vectors = await self.embedder.embed_documents(texts)
        sparse = await run_blocking("cpu", lambda: [self.encoder.encode_document(t) for t in texts])
        units: list[npt.NDArray[np.float32] | None] = [None] * len(chunks)
        if self.settings.sentence_vectors and self.store.holds_sentences:
            units = list(await self._unit_vectors(chunks))
        return [
            ChunkPoint(
                id=chunk.id,
                dense=vectors[i],
                sparse=sparse[i],
                payload=chunk.payload,
                sentences=units[i],
            )
            for i, chunk in enumerate(chunks)
        ]

    async def _unit_vectors(self, chunks: Sequence[ChunkInput]) -> list[npt.NDArray[np.float32]]:
        """Each chunk's unit vectors (`retrieval.units`: title, then sentences), one row per
        unit, embedded in one call for all chunks."""
        per_chunk = [chunk_units(chunk.payload, chunk.index_text()) for chunk in chunks]
        flat = [text for units in per_chunk for text in units]
        vectors = await self.embedder.embed_documents(flat) if flat else None
        out: list[npt.NDArray[np.float32]] = []
        at = 0
        for units in per_chunk:
            if vectors is None or not units:
                out.append(np.zeros((0, self.embedder.dimension), dtype=np.float32))
                continue
            out.append(np.asarray(vectors[at : at + len(units)], dtype=np.float32))
            at += len(units)
        return out

    async def index_chunks(self, chunks: Sequence[ChunkInput]) -> int:
        """Build points for chunks and upsert them; returns how many were stored."""
        points = await self.build_points(chunks)
        await self.store.upsert(points)
        return len(points)

    async def search(
        self,
        query: str,
        scope: SearchScope,
        *,
        top_k: int | None = None,
        mode: SearchMode = "hybrid",
    ) -> RetrievalResult:
        """The best passages for `query` within `scope`, best first (see module docstring)."""
        if mode not in ("hybrid", "dense", "bm25"):
            raise ValueError(f"unknown search mode {mode!r}")
        settings = self.settings
        k = top_k if top_k is not None else settings.top_k
        limit = max(settings.candidate_k, k)
        started = time.perf_counter()

        # BM25 needs no embedding: it runs while the question is being embedded. Both
        # searches return ids and scores only: payloads (and, for BM25-only hits, the dense
        # vectors the cosine floor needs) are fetched afterwards for the few passages kept.
        sparse_task: asyncio.Task[list[StoredHit]] | None = None
        if mode != "dense":
            sparse_query = self.encoder.encode_query(query)
            sparse_task = asyncio.create_task(
                self.store.search_sparse(
                    sparse_query, scope, limit, with_dense=False, with_payload=False
                )
            )
        try:
            vector = await self.embedder.embed_query(query)
            embed_ms = (time.perf_counter() - started) * 1000.0
            dense_hits: list[StoredHit] = []
            if mode != "bm25":
                dense_hits = await self.store.search_dense(vector, scope, limit, with_payload=False)
            sparse_hits = await sparse_task if sparse_task is not None else []
        finally:
            _settle(sparse_task)

        fused = self._fuse(dense_hits, sparse_hits, mode)
        best: dict[str, float] | None = None
        if mode == "hybrid" and settings.sentence_vectors:
            fused, best = await self._with_sentences(fused, dense_hits, sparse_hits, vector, scope)
        cosine = {hit.id: hit.score for hit in dense_hits}
        floor = settings.score_floor
        skip_below = floor
        if self.sentence_floor and best is not None:
            sentence = best

            def passes(p: Passage) -> bool:
                return max(p.score, sentence.get(p.point_id, p.score)) >= floor

            skip_below = -2.0  # a low cosine may pass on its sentence: fetch before judging
        else:

            def passes(p: Passage) -> bool:
                return p.score >= floor

        kept: list[Passage] = []
        start = 0
        if self.reranker.name != "none":
            start = max(4 * k, 20)
            head = await self._passages(fused[:start], cosine, vector, scope)
            kept = [p for p in self.reranker.rerank(query, head) if passes(p)][:k]
        while len(kept) < k and start < len(fused):
            batch, start = _next_batch(fused, start, k - len(kept), cosine, skip_below)
            found = await self._passages(batch, cosine, vector, scope)
            kept.extend(p for p in found if passes(p))
        kept = kept[:k]
        if skip_below != floor and not any(p.score >= floor for p in kept):
            kept = []  # the experiment still needs one passage over the floor on its own
        total_ms = (time.perf_counter() - started) * 1000.0
        return RetrievalResult(
            passages=kept,
            embed_ms=embed_ms,
            retrieve_ms=max(total_ms - embed_ms, 0.0),
            candidates=len(fused),
        )

    async def unused_words(self, words: Sequence[str], scope: SearchScope) -> list[str]:
        """Those of `words` that no chunk within `scope` uses (after stemming, as BM25 sees
        them): one sparse search of each word's terms, one hit at most, ids only."""
        queries = [(word, self.encoder.encode_query(word)) for word in words]
        queries = [(word, query) for word, query in queries if query.indices]
        found = await asyncio.gather(
            *(
                self.store.search_sparse(query, scope, 1, with_dense=False, with_payload=False)
                for _, query in queries
            )
        )
        return [word for (word, _), hits in zip(queries, found, strict=True) if not hits]

    async def sparse_passages(self, query: str, scope: SearchScope, limit: int) -> list[Passage]:
        """The best `limit` passages for `query` by BM25 alone, with their payloads, best
        first; their `score` is 0 (no embedding is made) and `fused_score` the BM25 score."""
        encoded = self.encoder.encode_query(query)
        if not encoded.indices:
            return []
        hits = await self.store.search_sparse(
            encoded, scope, limit, with_dense=False, with_payload=True
        )
        return [Passage.from_hit(hit, score=0.0, fused_score=hit.score) for hit in hits]

    async def _passages(
        self,
        items: Sequence[tuple[str, float]],
        cosine: dict[str, float],
        query: npt.NDArray[np.float32],
        scope: SearchScope,
    ) -> list[Passage]:
        """Passages for fused `(id, score)` items, in their order: payloads fetched from the
        store, cosine from the dense search or from the fetched vector. A point deleted since
        the search (a document replaced meanwhile) is left out."""
        if not items:
            return []
        ids = [item for item, _ in items]
        need_dense = any(item not in cosine for item in ids)
        found = {hit.id: hit for hit in await self.store.fetch(ids, scope, with_dense=need_dense)}
        passages = []
        for item, fused_score in items:
            hit = found.get(item)
            if hit is None:
                continue
            score = cosine[item] if item in cosine else _cosine(hit, query)
            passages.append(Passage.from_hit(hit, score=score, fused_score=fused_score))
        return passages

    async def _with_sentences(
        self,
        fused: list[tuple[str, float]],
        dense_hits: Sequence[StoredHit],
        sparse_hits: Sequence[StoredHit],
        query: npt.NDArray[np.float32],
        scope: SearchScope,
    ) -> tuple[list[tuple[str, float]], dict[str, float] | None]:
        """The fusion again with a third ranking: the best sentence cosine of each of the
        first `SENTENCE_CANDIDATES` fused candidates (one store call), and those cosines.
        Unchanged (and None) when the store holds no sentence vectors for some of them (a
        collection, or chunks, indexed without them): a candidate missing from that ranking
        would count as its worst."""
        head = [item for item, _ in fused[:SENTENCE_CANDIDATES]]
        if not head:
            return fused, None
        scores = await self.store.sentence_scores(query, head, scope)
        if scores is None or any(item not in scores for item in head):
            return fused, None
        ranking = sorted(((item, scores[item]) for item in head), key=lambda kv: (-kv[1], kv[0]))
        s = self.settings
        return fuse_rankings(
            [
                [(hit.id, hit.score) for hit in dense_hits],
                [(hit.id, hit.score) for hit in sparse_hits],
                ranking,
            ],
            [s.dense_weight, s.sparse_weight, SENTENCE_WEIGHT],
            method=s.fusion,
            rrf_k=s.rrf_k,
        ), scores

    def _fuse(
        self,
        dense_hits: Sequence[StoredHit],
        sparse_hits: Sequence[StoredHit],
        mode: SearchMode,
    ) -> list[tuple[str, float]]:
        sparse_ranking = [(hit.id, hit.score) for hit in sparse_hits]
        if mode == "bm25":
            return sparse_ranking
        dense_ranking = [(hit.id, hit.score) for hit in dense_hits]
        if mode == "dense":
            return dense_ranking
        s = self.settings
        return fuse(
            dense_ranking,
            sparse_ranking,
            method=s.fusion,
            rrf_k=s.rrf_k,
            dense_weight=s.dense_weight,
            sparse_weight=s.sparse_weight,
        )
