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

With a second embedder (`settings.second_embedder`, bge-small beside MiniLM) and a store
that `holds_second`, the question is embedded by both at once, hybrid search fuses three
rankings (BM25, the first embedder's, the second's, weighted `sparse_weight`, `dense_weight`,
`second_weight`) and the floor is "either": a passage stays when its first cosine reaches
`score_floor` or its second cosine reaches `second_score_floor`. `score` stays the first
embedder's cosine (what the answerer and the scope check read); `second_score` carries the
second's. A store without the second vector (a collection created before the setting was
on) is searched with two lists, after one warning naming the fix.

`Retriever.build_points` is the indexing half: it embeds and BM25-encodes chunk texts into
`ChunkPoint`s for the store, with `sentence_vectors` each chunk's units too, with a second
embedder each chunk's second vector (`index_chunks` also stores them).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ragops.config.settings import Settings
from ragops.providers.embedder.base import Embedder
from ragops.providers.vectorstore.base import ChunkPoint, SearchScope, StoredHit, VectorStore
from ragops.retrieval.floor import (
    Second,
    cosine_of,
    judge_floor,
    next_batch,
    over_floor,
    settle,
)
from ragops.retrieval.fusion import fuse_rankings
from ragops.retrieval.models import ChunkInput, Passage, RetrievalResult
from ragops.retrieval.rerank import Reranker, create_reranker
from ragops.retrieval.sparse import Bm25Encoder
from ragops.retrieval.units import SENTENCE_CANDIDATES, SENTENCE_WEIGHT, chunk_units
from ragops.workers import run_blocking

__all__ = ["ChunkInput", "Passage", "RetrievalResult", "Retriever", "SearchMode"]

SearchMode = Literal["hybrid", "dense", "bm25"]
Ranking = list[tuple[str, float]]
logger = logging.getLogger(__name__)
NO_SECOND = (
    "RAGOPS_SECOND_EMBEDDER is on, but the vector store's collection was created without the "
    "second embedder's vector: hybrid search uses two lists and no second vectors are stored "
    "(move the collection aside, or reindex into a new one: docs/retrieval.md, 'Two embedders')"
)


class Retriever:
    """Hybrid (dense + BM25) search over one tenant's chunks, and chunk indexing."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        store: VectorStore,
        encoder: Bm25Encoder | None = None,
        reranker: Reranker | None = None,
        second: Embedder | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.second = second
        """The second embedder (`settings.second_embedder`), or None."""
        self._warned_second = False
        self.store = store
        self.encoder = encoder or Bm25Encoder()
        self.reranker = reranker or create_reranker(settings.reranker)
        self.sentence_floor = False
        """An experiment of the benchmarks (bench/retrieval.py, bench/answers.py), not a
        setting: with sentence scores, a passage passes the floor on the better of its cosine
        and its best sentence's, as long as one kept passage passes it on its own cosine."""

    def uses_second(self) -> bool:
        """Whether the second embedder is on and the store holds its vectors (after the
        store's `ensure_ready`); when it is on and the store cannot, one warning is logged."""
        if self.second is None:
            return False
        if self.store.holds_second:
            return True
        if not self._warned_second:
            self._warned_second = True
            logger.warning(NO_SECOND)
        return False

    async def build_points(self, chunks: Sequence[ChunkInput]) -> list[ChunkPoint]:
        """Embed and BM25-encode chunks into points (not yet stored)."""
        if not chunks:
            return []
        texts = [chunk.index_text() for chunk in chunks]
        seconds: Any = None
        if self.second is not None and self.uses_second():
            vectors, seconds = await asyncio.gather(
                self.embedder.embed_documents(texts), self.second.embed_documents(texts)
            )
        else:
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
                second=seconds[i] if seconds is not None else None,
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
        second: Second | None = None
        try:
            if mode == "hybrid" and self.second is not None and self.uses_second():
                vector, other = await asyncio.gather(
                    self.embedder.embed_query(query), self.second.embed_query(query)
                )
                second = Second(other, {}, settings.second_score_floor)
            else:
                vector = await self.embedder.embed_query(query)
            embed_ms = (time.perf_counter() - started) * 1000.0
            dense_hits: list[StoredHit] = []
            second_hits: list[StoredHit] = []
            if second is not None:  # both dense searches at once (a server runs them together)
                dense_hits, second_hits = await asyncio.gather(
                    self.store.search_dense(vector, scope, limit, with_payload=False),
                    self.store.search_dense(
                        second.vector, scope, limit, with_payload=False, second=True
                    ),
                )
                second.cosine = {hit.id: hit.score for hit in second_hits}
            elif mode != "bm25":
                dense_hits = await self.store.search_dense(vector, scope, limit, with_payload=False)
            sparse_hits = await sparse_task if sparse_task is not None else []
        finally:
            settle(sparse_task)

        rankings, weights = self._rankings(dense_hits, sparse_hits, second_hits, mode)
        fused = self._fuse(rankings, weights)
        best: dict[str, float] | None = None
        if mode == "hybrid" and settings.sentence_vectors:
            fused, best = await self._with_sentences(fused, rankings, weights, vector, scope)
        cosine = {hit.id: hit.score for hit in dense_hits}
        floor = settings.score_floor
        judge = judge_floor(cosine, floor, second)

        def over(p: Passage) -> bool:
            return over_floor(p.score, p.second_score, floor, second)

        passes = over
        experiment = self.sentence_floor and best is not None
        if experiment:
            sentence = best or {}

            def passes(p: Passage) -> bool:
                return over(p) or sentence.get(p.point_id, p.score) >= floor

            def judge(item: str) -> bool | None:  # a low cosine may pass on its sentence
                return True if item in cosine else None

        kept: list[Passage] = []
        start = 0
        if self.reranker.name != "none":
            start = max(4 * k, 20)
            head = await self._passages(fused[:start], cosine, vector, scope, second)
            kept = [p for p in self.reranker.rerank(query, head) if passes(p)][:k]
        while len(kept) < k and start < len(fused):
            batch, start = next_batch(fused, start, k - len(kept), judge)
            found = await self._passages(batch, cosine, vector, scope, second)
            kept.extend(p for p in found if passes(p))
        kept = kept[:k]
        if experiment and not any(over(p) for p in kept):
            kept = []  # the experiment still needs one passage over the floor on its own
        total_ms = (time.perf_counter() - started) * 1000.0
        return RetrievalResult(
            passages=kept,
            embed_ms=embed_ms,
            retrieve_ms=max(total_ms - embed_ms, 0.0),
            candidates=len(fused),
        )

    async def word_uses(
        self, words: Sequence[str], scope: SearchScope, most: int = 1
    ) -> dict[str, list[str]]:
        """The ids of at most `most` chunks within `scope` that use each of `words` (after
        stemming, as BM25 sees them; [] for a word no chunk uses): one sparse search of each
        word's terms, ids only. A word BM25 does not index (a stopword to it) is left out."""
        queries = [(word, self.encoder.encode_query(word)) for word in words]
        queries = [(word, query) for word, query in queries if query.indices]
        found = await asyncio.gather(
            *(
                self.store.search_sparse(query, scope, most, with_dense=False, with_payload=False)
                for _, query in queries
            )
        )
        return {
            word: [hit.id for hit in hits] for (word, _), hits in zip(queries, found, strict=True)
        }

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
        second: Second | None = None,
    ) -> list[Passage]:
        """Passages for fused `(id, score)` items, in their order: payloads fetched from the
        store, cosines (the first embedder's, and the second's when it is used) from the
        dense searches or from the fetched vectors. A point deleted since the search (a
        document replaced meanwhile) is left out."""
        if not items:
            return []
        ids = [item for item, _ in items]
        need_dense = any(item not in cosine for item in ids)
        need_second = second is not None and any(item not in second.cosine for item in ids)
        hits = await self.store.fetch(ids, scope, with_dense=need_dense, with_second=need_second)
        found = {hit.id: hit for hit in hits}
        passages = []
        for item, fused_score in items:
            hit = found.get(item)
            if hit is None:
                continue
            score = cosine[item] if item in cosine else cosine_of(hit.dense, query)
            other: float | None = None
            if second is not None:
                known = second.cosine.get(item)
                other = known if known is not None else cosine_of(hit.second, second.vector)
            passages.append(
                Passage.from_hit(hit, score=score, fused_score=fused_score, second_score=other)
            )
        return passages

    async def _with_sentences(
        self,
        fused: list[tuple[str, float]],
        rankings: list[Ranking],
        weights: list[float],
        query: npt.NDArray[np.float32],
        scope: SearchScope,
    ) -> tuple[list[tuple[str, float]], dict[str, float] | None]:
        """The fusion again with one more ranking: the best sentence cosine of each of the
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
        return self._fuse([*rankings, ranking], [*weights, SENTENCE_WEIGHT]), scores

    def _rankings(
        self,
        dense_hits: Sequence[StoredHit],
        sparse_hits: Sequence[StoredHit],
        second_hits: Sequence[StoredHit],
        mode: SearchMode,
    ) -> tuple[list[Ranking], list[float]]:
        """The rankings the mode fuses and their weights: BM25 or dense alone, or (hybrid)
        dense and BM25, with the second embedder's ranking when it was searched."""
        sparse_ranking = [(hit.id, hit.score) for hit in sparse_hits]
        if mode == "bm25":
            return [sparse_ranking], [1.0]
        dense_ranking = [(hit.id, hit.score) for hit in dense_hits]
        if mode == "dense":
            return [dense_ranking], [1.0]
        s = self.settings
        rankings, weights = [dense_ranking, sparse_ranking], [s.dense_weight, s.sparse_weight]
        if second_hits:
            rankings.append([(hit.id, hit.score) for hit in second_hits])
            weights.append(s.second_weight)
        return rankings, weights

    def _fuse(self, rankings: list[Ranking], weights: list[float]) -> list[tuple[str, float]]:
        if len(rankings) == 1:
            return list(rankings[0])
        s = self.settings
        return fuse_rankings(rankings, weights, method=s.fusion, rrf_k=s.rrf_k)
