"""Offline sweep of cheap retrieval variants on a BEIR-layout dataset, scored on two halves.

    python bench/retrieval_sweep.py --dataset ../shared/data/scifact [--json]
                                    [--vectors corpus.npy queries.npy]

Replays, in memory, what the product's retriever does, so that many settings can be compared in
seconds: dense search is exact cosine over the corpus vectors (the ones `bench/retrieval.py
--cache-embeddings` keeps in var/bench/, else computed with the configured embedder), BM25 is
the product's `Bm25Encoder` (classic BM25, `delta` 0, as when these variants were measured;
`retrieval_variants.py` covers BM25L) scored with Qdrant's IDF `ln((N - n + 0.5) / (n + 0.5) +
1)` (what all three stores compute), and fusion is the product's `fuse`. Each variant is scored
by nDCG@10 on the whole query set and on the two halves of `bench/retrieval.py`'s fixed split
(`query_halves`): settings are CHOSEN on the "choice" half only, and a change is kept only if
it does not lose on the "other" half. The score floor is not applied here (on SciFact it costs
0.004 to 0.007 nDCG@10); `bench/retrieval.py` measures the chosen settings through the real
store. Run it from the repository root; with cached vectors all variants take a few minutes on
2 cores (mostly the pseudo-relevance-feedback searches).

`--vectors` replaces the dense side by vectors computed elsewhere (rows in corpus.jsonl and
queries.jsonl order), e.g. a candidate embedder's.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from retrieval import CACHE_DIR, evaluate_halves, load_dataset

Ranking = list[tuple[str, float]]


class Bm25Index:
    """In-memory BM25 with the product's encoder and the stores' IDF."""

    def __init__(
        self, ids: Sequence[str], texts: Sequence[str], k1: float, b: float, delta: float = 0.0
    ) -> None:
        from ragops.retrieval.sparse import Bm25Encoder

        self.encoder = Bm25Encoder(k1=k1, b=b, delta=delta)
        self.postings: dict[int, list[tuple[int, float]]] = defaultdict(list)
        for row, text in enumerate(texts):
            vector = self.encoder.encode_document(text)
            for term, value in zip(vector.indices, vector.values, strict=True):
                self.postings[term].append((row, value))
        n = len(ids)
        self.idf = {
            t: math.log((n - len(p) + 0.5) / (len(p) + 0.5) + 1.0) for t, p in self.postings.items()
        }
        self.ids = list(ids)

    def search(self, query: str, limit: int) -> Ranking:
        """Best `limit` documents by BM25, best first."""
        scores: dict[int, float] = defaultdict(float)
        for term in self.encoder.encode_query(query).indices:
            weight = self.idf.get(term, 0.0)
            for row, value in self.postings.get(term, ()):
                scores[row] += weight * value
        best = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
        return [(self.ids[row], score) for row, score in best]


def dense_search(corpus: np.ndarray, ids: Sequence[str], query: np.ndarray, limit: int) -> Ranking:
    """Exact cosine top `limit` (vectors are unit length)."""
    scores = corpus @ query
    top = np.argpartition(-scores, min(limit, len(ids) - 1))[:limit]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(ids[i], float(scores[i])) for i in top]


def rocchio(
    corpus: np.ndarray,
    rows: Mapping[str, int],
    query: np.ndarray,
    feedback: Ranking,
    k: int,
    beta: float,
) -> np.ndarray:
    """Query vector moved toward the mean of the first `k` feedback documents, unit length."""
    if k <= 0 or beta <= 0 or not feedback:
        return query
    mean = corpus[[rows[item] for item, _ in feedback[:k]]].mean(axis=0)
    moved = query + beta * mean
    return (moved / np.linalg.norm(moved)).astype(np.float32)


def embed_with_product(texts: Sequence[str]) -> np.ndarray:
    """Vectors of `texts` from the configured embedder (settings from RAGOPS_*)."""
    import asyncio

    from ragops.config.settings import Settings
    from ragops.providers.embedder.factory import create_embedder

    embedder = create_embedder(Settings())

    async def go() -> np.ndarray:
        try:
            return np.asarray(await embedder.embed_documents(list(texts)), dtype=np.float32)
        finally:
            await embedder.aclose()

    return asyncio.run(go())


def cached_corpus_vectors(dataset: Path, texts: Sequence[str]) -> np.ndarray | None:
    """The corpus vectors `bench/retrieval.py --cache-embeddings` kept, if any."""
    import hashlib

    from ragops.config.settings import Settings
    from ragops.providers.embedder.factory import create_embedder

    digest = hashlib.sha256(create_embedder(Settings()).model_id.encode())
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    cache = CACHE_DIR / f"{dataset.name}-{digest.hexdigest()[:16]}.npy"
    return np.load(cache) if cache.exists() else None


def corpus_rows(corpus: list[dict[str, Any]]) -> tuple[list[str], list[str], dict[str, int]]:
    """The corpus's ids, its texts as the product indexes them (title, text), each id's row."""
    ids = [str(doc["_id"]) for doc in corpus]
    texts = [f"{doc.get('title', '')}\n{doc.get('text', '')}".strip() for doc in corpus]
    return ids, texts, {item: i for i, item in enumerate(ids)}


def sweep(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Score every variant; returns rows of name and nDCG@10 (whole, choice, other)."""
    from ragops.retrieval.fusion import fuse

    dataset = Path(args.dataset)
    corpus, queries, qrels = load_dataset(dataset)
    ids, texts, rows = corpus_rows(corpus)
    qids = list(queries)
    if args.vectors:
        cvec = np.load(args.vectors[0]).astype(np.float32)
        all_q = [json.loads(line) for line in (dataset / "queries.jsonl").open() if line.strip()]
        qpos = {str(q["_id"]): i for i, q in enumerate(all_q)}
        qall = np.load(args.vectors[1]).astype(np.float32)
        qvec = {q: qall[qpos[q]] for q in qids}
    else:
        cached = cached_corpus_vectors(dataset, texts)
        cvec = cached if cached is not None else embed_with_product(texts)
        qvec = dict(zip(qids, embed_with_product([queries[q] for q in qids]), strict=True))

    limit = 100
    bm25_cache: dict[tuple[float, float], dict[str, Ranking]] = {}

    def bm25_runs(k1: float, b: float, title_boost: int = 0) -> dict[str, Ranking]:
        key = (k1, b + 10 * title_boost)
        if key not in bm25_cache:
            docs = texts
            if title_boost:
                docs = [
                    "\n".join(
                        [str(d.get("title", ""))] * (1 + title_boost) + [str(d.get("text", ""))]
                    )
                    for d in corpus
                ]
            index = Bm25Index(ids, docs, k1, b)
            bm25_cache[key] = {q: index.search(queries[q], limit) for q in qids}
        return bm25_cache[key]

    dense = {q: dense_search(cvec, ids, qvec[q], limit) for q in qids}
    results: list[dict[str, Any]] = []

    def score(name: str, runs: Mapping[str, Ranking]) -> None:
        ranked = {q: [item for item, _ in runs[q]] for q in qids}
        halves = evaluate_halves(ranked, qrels)
        results.append({"variant": name, **halves})
        if not args.json:
            print(
                f"{name:<58}{halves['whole']:>8.4f}{halves['choice']:>8.4f}{halves['other']:>8.4f}",
                flush=True,
            )

    def fused(
        sparse: Mapping[str, Ranking],
        dense_runs: Mapping[str, Ranking] | None = None,
        **kw: Any,
    ) -> dict[str, Ranking]:
        d = dense_runs or dense
        return {q: fuse(d[q], sparse[q], **kw) for q in qids}

    if not args.json:
        print(f"{'variant':<58}{'whole':>8}{'choice':>8}{'other':>8}")
    base = bm25_runs(1.2, 0.75)
    score("dense", dense)
    score("bm25 k1=1.2 b=0.75 (default)", base)
    score("hybrid weighted 1:1 (default)", fused(base, method="weighted"))
    for w in (0.6, 0.8, 1.2, 1.5):
        score(f"hybrid weighted dense {w}:1", fused(base, method="weighted", dense_weight=w))
    for k in (5, 10, 20, 60):
        score(f"hybrid rrf k={k}", fused(base, method="rrf", rrf_k=k))
    for k1, b in ((0.9, 0.4), (1.2, 0.5), (1.2, 0.9), (1.5, 0.75), (2.0, 0.75), (0.9, 0.75)):
        runs = bm25_runs(k1, b)
        score(f"bm25 k1={k1} b={b}", runs)
        score(f"hybrid weighted, bm25 k1={k1} b={b}", fused(runs, method="weighted"))
    for boost in (1, 2):
        runs = bm25_runs(1.2, 0.75, boost)
        score(f"bm25 title x{1 + boost}", runs)
        score(f"hybrid weighted, bm25 title x{1 + boost}", fused(runs, method="weighted"))

    # Scores standardised per ranking (z-scores over its candidates) instead of min-max.
    for w in (1.0, 0.8):
        score(f"hybrid zscore dense {w}:1", fused(base, method="zscore", dense_weight=w))
    for k1, b in ((0.9, 0.75), (1.2, 0.5)):
        score(f"hybrid zscore, bm25 k1={k1} b={b}", fused(bm25_runs(k1, b), method="zscore"))
    # Candidates per search (RAGOPS_CANDIDATE_K): z-scores are taken over them.
    for count in (30, 50, 200, 400):
        index = Bm25Index(ids, texts, 1.2, 0.75)
        wide = {
            q: fuse(
                dense_search(cvec, ids, qvec[q], count),
                index.search(queries[q], count),
                method="zscore",
            )
            for q in qids
        }
        score(f"hybrid zscore, {count} candidates", wide)

    # Dense pseudo-relevance feedback: the query vector moved toward the top hits of a first
    # pass (dense alone, or the fused ranking), then a second dense search.
    zscored = fused(base, method="zscore")
    for k in (3, 5):
        for beta in (0.3, 0.5, 1.0):
            prf = {
                q: dense_search(cvec, ids, rocchio(cvec, rows, qvec[q], zscored[q], k, beta), limit)
                for q in qids
            }
            label = f"hybrid zscore, dense PRF from zscore top{k} beta={beta}"
            score(label, fused(base, prf, method="zscore"))
    fused_base = fused(base, method="weighted")
    for source_name, source in (("dense", dense), ("hybrid", fused_base)):
        for k in (3, 5, 10):
            for beta in (0.5, 1.0, 2.0):
                prf = {
                    q: dense_search(
                        cvec, ids, rocchio(cvec, rows, qvec[q], source[q], k, beta), limit
                    )
                    for q in qids
                }
                label = f"PRF from {source_name} top{k} beta={beta}"
                score(f"dense {label}", prf)
                score(f"hybrid weighted, dense {label}", fused(base, prf, method="weighted"))
    return results


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="BEIR-layout folder")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument(
        "--vectors", nargs=2, metavar=("CORPUS_NPY", "QUERIES_NPY"), help="dense vectors to use"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    rows = sweep(args)
    if args.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
