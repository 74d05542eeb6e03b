"""Scale benchmark of the embedded vector store: query latency and memory as the corpus grows.

    python bench/scale.py [--sizes 10000,100000] [--layouts one,ten] [--queries 300] [--json]
                          [--seed-vectors FILE.npy] [--skip-plain]

For each size, and each tenant layout, it builds a fresh embedded store (Qdrant Edge, through
`EdgeVectorStore`, in a temporary directory) from synthetic chunks, then measures searches
the way `Retriever` makes them, without the question's embedding (which adds its own few
milliseconds, bench/retrieval.py):

- `dense`: one dense search (`search_dense`);
- `hybrid`: BM25 (`search_sparse`, with dense vectors) and dense search, then fusion.

Layouts: `one` puts every chunk in one tenant (its filter matches every point: a one-team
deployment, as good as no filter); `ten` spreads them over ten tenants and searches one
(a tenant filter selecting 10 %).

Each build is measured twice: on plain segments right after writing (exact search), and after
`optimize()` has built the HNSW graphs (with recall@10 against exact search). Also printed:
write seconds (the store's upserts only, not making the data), index-build seconds, the
longest the event loop could not run during the build (the engine holds Python's GIL),
reopening seconds, and resident memory (VmRSS after each
phase, VmHWM the peak) of this process, which holds the store.

Vectors are synthetic but shaped like sentence embeddings: unit vectors scattered around
2,000 topic centres (cosine ~0.7 to their centre). `--seed-vectors` takes the centres from a
file instead (e.g. the SciFact embeddings kept by `bench/retrieval.py --cache-embeddings`).
Sparse vectors draw ~80 terms a chunk and 8 a query from a Zipf-distributed 30,000-term
vocabulary, with BM25-like weights.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

DIM = 384
CENTRES = 2000
VOCAB = 30_000
BATCH = 2000
LAYOUTS = ("one", "ten")


def rss_mb() -> dict[str, float]:
    """This process's resident memory now (VmRSS) and at its peak (VmHWM), in MB."""
    values: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = round(int(rest.split()[0]) / 1024, 1)
    return values


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    """p50 and p95 in milliseconds."""
    values = np.asarray(samples_ms, dtype=np.float64)
    return {
        "p50": round(float(np.percentile(values, 50)), 2),
        "p95": round(float(np.percentile(values, 95)), 2),
    }


class Corpus:
    """Deterministic synthetic chunks: dense unit vectors around topic centres, Zipf terms."""

    def __init__(self, seed_vectors: Path | None, seed: int = 7) -> None:
        self.rng = np.random.default_rng(seed)
        if seed_vectors is not None:
            centres = np.load(seed_vectors).astype(np.float32)
        else:
            centres = self.rng.standard_normal((CENTRES, DIM)).astype(np.float32)
        self.centres = centres / np.linalg.norm(centres, axis=1, keepdims=True)
        ranks = np.arange(1, VOCAB + 1, dtype=np.float64)
        weights = 1.0 / ranks**1.1
        self.term_cdf = np.cumsum(weights / weights.sum())
        self.term_ids = self.rng.choice(2**32 - 1, size=VOCAB, replace=False)

    def dense(self, n: int) -> np.ndarray[Any, np.dtype[np.float32]]:
        """`n` unit vectors, each near a random centre."""
        picks = self.rng.integers(0, len(self.centres), n)
        noise = self.rng.standard_normal((n, DIM)).astype(np.float32)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        vectors = self.centres[picks] + noise
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def sparse(self, terms: int) -> tuple[list[int], list[float]]:
        """One sparse vector of about `terms` distinct Zipf-drawn terms, BM25-like weights."""
        drawn = np.minimum(np.searchsorted(self.term_cdf, self.rng.random(terms)), VOCAB - 1)
        unique, counts = np.unique(drawn, return_counts=True)
        weights = counts * 2.2 / (counts + 1.2)
        return [int(t) for t in self.term_ids[unique]], [float(w) for w in weights]


async def measure(
    store: Any, corpus: Corpus, tenant: str, queries: int, exact_ids: list[list[str]] | None
) -> tuple[dict[str, Any], list[list[str]]]:
    """Latency of dense and hybrid searches in `tenant`'s scope, the dense top-10 ids, and
    (given the exact top-10 ids) recall@10."""
    from ragops.providers.vectorstore.base import SearchScope, SparseVector
    from ragops.retrieval.fusion import fuse

    scope = SearchScope(tenant_id=tenant, collection="bench")
    vectors = corpus.dense(queries)
    sparse = [SparseVector(*corpus.sparse(8)) for _ in range(queries)]
    dense_ms: list[float] = []
    hybrid_ms: list[float] = []
    found: list[list[str]] = []
    for i in range(queries):
        started = time.perf_counter()
        hits = await store.search_dense(vectors[i], scope, 100)
        dense_ms.append((time.perf_counter() - started) * 1000)
        found.append([h.id for h in hits[:10]])
        started = time.perf_counter()
        bm25, dense = await asyncio.gather(
            store.search_sparse(sparse[i], scope, 100, with_dense=True),
            store.search_dense(vectors[i], scope, 100),
        )
        fuse([(h.id, h.score) for h in dense], [(h.id, h.score) for h in bm25], method="rrf")
        hybrid_ms.append((time.perf_counter() - started) * 1000)
    result: dict[str, Any] = {"dense": percentiles(dense_ms), "hybrid": percentiles(hybrid_ms)}
    if exact_ids is not None:
        recall = [
            len(set(a) & set(b)) / max(len(b), 1) for a, b in zip(found, exact_ids, strict=True)
        ]
        result["recall@10"] = round(float(np.mean(recall)), 4)
    return result, found


async def build_and_measure(
    size: int, layout: str, corpus: Corpus, args: argparse.Namespace
) -> dict[str, Any]:
    """One fresh store of `size` chunks in `layout`; every figure of one table row."""
    from ragops.config.settings import Settings
    from ragops.providers.vectorstore.base import ChunkPoint, SparseVector
    from ragops.providers.vectorstore.edge import EdgeVectorStore

    row: dict[str, Any] = {"size": size, "layout": layout}
    tenants = 1 if layout == "one" else 10
    with tempfile.TemporaryDirectory(prefix="ragops-scale-") as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp), edge_index_threshold=0)
        store = EdgeVectorStore(settings, model_id="bench", dimension=DIM)
        await store.ensure_ready(DIM)
        writing = 0.0
        for start in range(0, size, BATCH):
            n = min(BATCH, size - start)
            dense = corpus.dense(n)
            points = [
                ChunkPoint(
                    id=str(uuid.uuid4()),
                    dense=dense[i],
                    sparse=SparseVector(*corpus.sparse(80)),
                    payload={
                        "tenant_id": f"t{(start + i) % tenants}",
                        "collection": "bench",
                        "document_id": f"d{start + i}",
                        "version": 1,
                        "text": "synthetic chunk",
                    },
                )
                for i in range(n)
            ]
            started = time.perf_counter()
            await store.upsert(points)
            writing += time.perf_counter() - started
            if not args.json:
                print(f"\r{layout} {size}: wrote {start + n}", end="", file=sys.stderr)
        row["write_seconds"] = round(writing, 1)
        row["memory_after_write_mb"] = rss_mb()
        if not args.json:
            print(file=sys.stderr)

        # Ground truth: exact search on plain segments is what "plain" measures.
        plain, exact_ids = await measure(store, corpus_for_queries(args), "t0", args.queries, None)
        if not args.skip_plain:
            row["plain"] = plain
        started = time.perf_counter()
        ticker = asyncio.ensure_future(loop_stall())
        await store.optimize()
        row["index_seconds"] = round(time.perf_counter() - started, 1)
        # The last stall ends when the build returns (the ticker may not have woken yet).
        last = time.perf_counter() - LAST_TICK[0]
        ticker.cancel()
        row["index_loop_stall_seconds"] = round(max([*STALLS, last]), 1)
        info = store._opened().info()  # noqa: SLF001 - the engine's own count
        row["segments"] = info.segments_count
        row["indexed_vectors"] = info.indexed_vectors_count  # dense and sparse, per point
        row["memory_after_index_mb"] = rss_mb()
        row["hnsw"], _ = await measure(
            store, corpus_for_queries(args), "t0", args.queries, exact_ids
        )
        await store.aclose()
        started = time.perf_counter()
        reopened = EdgeVectorStore(settings, model_id="bench", dimension=DIM)
        await reopened.ensure_ready(DIM)
        row["reopen_seconds"] = round(time.perf_counter() - started, 2)
        await reopened.aclose()
    return row


STALLS: list[float] = []
LAST_TICK = [0.0]


async def loop_stall() -> None:
    """Record how late a 10 ms sleep of the event loop wakes (the engine holds the GIL)."""
    STALLS.clear()
    LAST_TICK[0] = time.perf_counter()
    while True:
        await asyncio.sleep(0.01)
        now = time.perf_counter()
        STALLS.append(now - LAST_TICK[0] - 0.01)
        LAST_TICK[0] = now


def corpus_for_queries(args: argparse.Namespace) -> Corpus:
    """The same query vectors for the plain and the HNSW pass (a fresh seeded generator)."""
    return Corpus(args.seed_vectors, seed=11)


def report(rows: Sequence[dict[str, Any]]) -> str:
    """The human-readable table."""
    head = (
        f"{'chunks':>9} {'tenants':<8}{'phase':<7}{'dense p50':>10}{'p95':>8}"
        f"{'hybrid p50':>11}{'p95':>8}{'recall@10':>10}{'RSS MB':>9}{'build s':>9}"
    )
    lines = [head]
    for row in rows:
        layout = "1 (all)" if row["layout"] == "one" else "10 (1)"
        for phase in ("plain", "hnsw"):
            if phase not in row:
                continue
            m = row[phase]
            memory = row["memory_after_write_mb" if phase == "plain" else "memory_after_index_mb"]
            built = row["write_seconds"] if phase == "plain" else row["index_seconds"]
            lines.append(
                f"{row['size']:>9} {layout:<8}{phase:<7}{m['dense']['p50']:>10.2f}"
                f"{m['dense']['p95']:>8.2f}{m['hybrid']['p50']:>11.2f}{m['hybrid']['p95']:>8.2f}"
                f"{m.get('recall@10', float('nan')):>10.3f}{memory['VmRSS']:>9.0f}{built:>9.1f}"
            )
        lines.append(
            f"{'':>9} peak RSS {row['memory_after_index_mb']['VmHWM']:.0f} MB, "
            f"reopen {row['reopen_seconds']:.2f} s, event loop stalled "
            f"{row['index_loop_stall_seconds']:.1f} s during the index build; "
            f"{row['segments']} segments, {row['indexed_vectors']} vectors indexed"
        )
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every size and layout, smallest first."""
    corpus = Corpus(args.seed_vectors)
    rows = []
    for size in args.sizes:
        for layout in args.layouts:
            rows.append(await build_and_measure(size, layout, corpus, args))
            print(json.dumps(rows[-1]), file=sys.stderr)  # each row as soon as it is measured
    return rows


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated chunk counts")
    parser.add_argument("--layouts", default=",".join(LAYOUTS), help="one and/or ten tenants")
    parser.add_argument("--queries", type=int, default=300, help="queries per measurement")
    parser.add_argument("--seed-vectors", type=Path, default=None, help="centres (.npy)")
    parser.add_argument("--skip-plain", action="store_true", help="omit the plain pass")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON only")
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    args.layouts = [s.strip() for s in args.layouts.split(",") if s.strip()]
    if set(args.layouts) - set(LAYOUTS):
        parser.error(f"layouts are {', '.join(LAYOUTS)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    rows = asyncio.run(run(args))
    print(json.dumps(rows) if args.json else report(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
