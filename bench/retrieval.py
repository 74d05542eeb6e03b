"""Retrieval quality benchmark on a BEIR-layout dataset (SciFact by default in `make bench`).

    python bench/retrieval.py --dataset ../shared/data/scifact [--json] [--limit-docs N]
                              [--modes dense,bm25,hybrid] [--cache-embeddings]
                              [--store edge|pgvector [--pgvector-url URL]]
                              [--bm25-k1 K1] [--bm25-b B] [--bm25-delta DELTA]
                              [--second-embedder bge-small]

Indexes `corpus.jsonl` (`_id`, `title`, `text`) through the product's own pieces — the
configured embedder, `Bm25Encoder`, a vector store (by default the embedded Qdrant Edge in a
temporary directory; `--store pgvector`: the pgvector store in the PostgreSQL database of
`--pgvector-url`, or without it in a private PostgreSQL 16 + pgvector server started for the
run from the `pgserver` package, see `pglocal.py`), and `Retriever` — as one bench tenant,
one point per document (title + text; the embedder reads the first 256 word pieces, BM25 the
whole text). Then it runs every query of `qrels/test.tsv` in each mode, one at a time, and
prints nDCG@10, Recall@10 and Recall@100 beside published reference figures (ranking the top
100 passages, for Recall@100), then times every query again as a question is asked (the
default `top_k` passages): each mode's latency (p50/p95, the question's embedding included;
"search" is the part after the embedding: store calls, fusion and reading the kept passages)
and the seconds spent indexing and querying. `--json` prints the metrics per mode,
`"latency_ms": {mode: {"p50", "p95"}}`, `"search_ms"` (same shape), `"index_seconds"`,
`"seconds"` and `"store"`.

`--cache-embeddings` keeps the corpus's dense vectors in `var/bench/` between runs (keyed by
dataset, model and texts) and reuses them: the index time then leaves embedding out, and the
output says so (`"embeddings": "cached"`). Off by default: a plain run embeds everything.

`--second-embedder bge-small` is the product setting `RAGOPS_SECOND_EMBEDDER=bge-small` (the
variable works too): the collection is created with the second vector, every document is
embedded by both models (with `--cache-embeddings`, each model's vectors have their own
file), and `hybrid` fuses three lists with the "either" floor. `two-lists` is then hybrid
search without the second embedder over the same index: `--modes two-lists,hybrid` gives the
default and the opt-in, and their latency, in one run.

`--off-topic` also asks each mode the questions of `bench/data/scope.yaml` (about this
product, none about science) and counts those left with no passage by the floor: how well
the floor still cuts questions the corpus cannot answer (`"off_topic_emptied"`).

The mode `sentence-floor` (`--modes hybrid,sentence-floor`, with
`RAGOPS_SENTENCE_VECTORS=true`) is an experiment, not a product setting: hybrid search whose
floor judges a passage by the better of its cosine and its best sentence's, while the question
still needs one passage over the floor on its own cosine (`Retriever.sentence_floor`). The
mode `two-lists` is hybrid search with the setting off over the same index, so that one run
times the sentence step's cost under the same load (`--modes two-lists,hybrid`).

With `--store pgvector`, the mode `fts` (`--modes dense,bm25,hybrid,fts`) also runs
PostgreSQL full-text search over the same table (the lexical alternative to the store's BM25;
its index build is reported as `"fts_index_seconds"`).

Settings come from `Settings()` (so `RAGOPS_*` variables apply, e.g. `RAGOPS_RRF_K=20`), except
that the store is the one `--store` names and `candidate_k` is raised to at least 100 for
Recall@100.
The product's `score_floor` applies as in production (`--score-floor` overrides it).

Every nDCG@10 is also given on the two halves of a fixed split of the queries
(`query_halves`: by the SHA-256 of each query id, so it never depends on results), printed
as "choice" and "other" and in `--json` as `"ndcg@10_choice"` and `"ndcg@10_other"` per mode.
Settings are chosen on the choice half only and kept only if they do not lose on the other
half; `bench/retrieval_sweep.py` replays many candidate settings in memory that way.

The metrics follow BEIR / pytrec_eval: nDCG@k with gain = relevance grade, log2(rank + 1)
discount and the ideal DCG from the qrels; Recall@k = relevant retrieved in the top k / all
relevant; both averaged over the queries that have qrels.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragops.retrieval.sparse import DEFAULT_B, DEFAULT_DELTA, DEFAULT_K1

REFERENCE = [
    ("BM25 (BEIR paper)", 0.665),
    ("BM25 flat (Anserini)", 0.679),
    ("all-MiniLM-L6-v2 dense (published)", 0.645),
    ("bge-small-en-v1.5 dense (published)", 0.713),
]
MODES = ("dense", "bm25", "hybrid")
EXPERIMENTS = ("sentence-floor", "two-lists")
STORE_MODES = {"edge": (*MODES, *EXPERIMENTS), "pgvector": (*MODES, *EXPERIMENTS, "fts")}
TENANT = "bench"
COLLECTION = "bench"
CACHE_DIR = Path("var") / "bench"
Qrels = Mapping[str, Mapping[str, int]]


# --- metrics ----------------------------------------------------------------------------


def ndcg_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    """nDCG@k of one ranked list: gain = grade, discount log2(rank + 1), ideal from qrels."""
    dcg = sum(relevant.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranked[:k]))
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    idcg = sum(gain / math.log2(rank + 2) for rank, gain in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    """Share of the relevant documents found in the top k."""
    wanted = {doc for doc, grade in relevant.items() if grade > 0}
    if not wanted:
        return 0.0
    return len(wanted & set(ranked[:k])) / len(wanted)


def evaluate(runs: Mapping[str, Sequence[str]], qrels: Qrels) -> dict[str, float]:
    """Mean nDCG@10, Recall@10 and Recall@100 over the queries of `qrels`."""
    judged = [q for q, rel in qrels.items() if any(g > 0 for g in rel.values())]
    if not judged:
        raise ValueError("no query has a relevant document")
    out = {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0}
    for query in judged:
        ranked = runs.get(query, [])
        out["ndcg@10"] += ndcg_at_k(ranked, qrels[query], 10)
        out["recall@10"] += recall_at_k(ranked, qrels[query], 10)
        out["recall@100"] += recall_at_k(ranked, qrels[query], 100)
    return {name: round(value / len(judged), 4) for name, value in out.items()}


def query_halves(query_ids: Sequence[str]) -> dict[str, str]:
    """A fixed split of the queries into two halves, "choice" and "other".

    Queries are ordered by the SHA-256 of `ragops-split/<id>` and the first half (rounded up)
    is "choice": settings are chosen on it alone, and a choice is kept only if it does not
    lose on "other". The split depends on the ids only, never on results."""
    order = sorted(query_ids, key=lambda q: hashlib.sha256(f"ragops-split/{q}".encode()).digest())
    cut = (len(order) + 1) // 2
    return {q: ("choice" if i < cut else "other") for i, q in enumerate(order)}


def evaluate_halves(runs: Mapping[str, Sequence[str]], qrels: Qrels) -> dict[str, float]:
    """nDCG@10 on the whole query set and on each half of `query_halves`."""
    halves = query_halves(sorted(qrels))
    out = {"whole": evaluate(runs, qrels)["ndcg@10"]}
    for half in ("choice", "other"):
        part = {q: rel for q, rel in qrels.items() if halves[q] == half}
        out[half] = evaluate(runs, part)["ndcg@10"]
    return out


# --- dataset ----------------------------------------------------------------------------


def load_dataset(
    folder: Path, split: str = "test", limit_docs: int | None = None
) -> tuple[list[dict[str, Any]], dict[str, str], dict[str, dict[str, int]]]:
    """Corpus rows, query texts and qrels of a BEIR folder.

    With `limit_docs`, the corpus is cut to that many documents, keeping every judged one
    first, so a quick run still measures something."""
    qrels: dict[str, dict[str, int]] = {}
    with (folder / "qrels" / f"{split}.tsv").open(encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3 or not parts[2].lstrip("-").isdigit():
                continue  # header or blank line
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    queries: dict[str, str] = {}
    with (folder / "queries.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                if str(row["_id"]) in qrels:
                    queries[str(row["_id"])] = row["text"]
    corpus: list[dict[str, Any]] = []
    with (folder / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                corpus.append(json.loads(line))
    if limit_docs is not None and limit_docs < len(corpus):
        judged = {doc for rel in qrels.values() for doc in rel}
        first = [d for d in corpus if str(d["_id"]) in judged]
        rest = [d for d in corpus if str(d["_id"]) not in judged]
        corpus = (first + rest)[: max(limit_docs, 1)]
    qrels = {q: rel for q, rel in qrels.items() if q in queries}
    return corpus, queries, qrels


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    """p50 and p95 of latencies in milliseconds, rounded to 0.1 ms."""
    values = np.asarray(samples_ms, dtype=np.float64)
    return {
        "p50": round(float(np.percentile(values, 50)), 1),
        "p95": round(float(np.percentile(values, 95)), 1),
    }


# --- run --------------------------------------------------------------------------------


def cache_file(dataset: str, model_id: str, chunks: Sequence[Any]) -> Path:
    """The `--cache-embeddings` file of one model's vectors of `chunks`."""
    digest = hashlib.sha256(model_id.encode())
    for chunk in chunks:
        digest.update(chunk.text.encode("utf-8") + b"\0")
    return CACHE_DIR / f"{Path(dataset).name}-{digest.hexdigest()[:16]}.npy"


async def cached_vectors(embedder: Any, chunks: Sequence[Any], dataset: str) -> tuple[Any, bool]:
    """`embedder`'s vectors of `chunks` from their cache file, or embedded and kept there;
    and whether they came from the file."""
    cache = cache_file(dataset, embedder.model_id, chunks)
    if cache.exists():
        return np.load(cache), True
    vectors = await embedder.embed_documents([c.text for c in chunks])
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors, False


async def index_corpus(retriever: Any, chunks: Sequence[Any], args: argparse.Namespace) -> str:
    """Index `chunks` through the product's path; with `--cache-embeddings`, dense vectors
    (both models' with a second embedder) come from (or go to) files under var/bench/.
    Returns "computed" or "cached"."""
    from ragops.providers.vectorstore.base import ChunkPoint

    if not args.cache_embeddings:
        for start in range(0, len(chunks), 256):
            await retriever.index_chunks(chunks[start : start + 256])
            if not args.json:
                print(f"\rindexed {min(start + 256, len(chunks))}/{len(chunks)}", end="")
        return "computed"
    vectors, cached = await cached_vectors(retriever.embedder, chunks, args.dataset)
    seconds: Any = None
    if retriever.uses_second():
        seconds, also = await cached_vectors(retriever.second, chunks, args.dataset)
        cached = cached and also
    for start in range(0, len(chunks), 256):
        batch = chunks[start : start + 256]
        points = [
            ChunkPoint(
                id=chunk.id,
                dense=vectors[start + i],
                sparse=retriever.encoder.encode_document(chunk.text),
                payload=chunk.payload,
                second=seconds[start + i] if seconds is not None else None,
            )
            for i, chunk in enumerate(batch)
        ]
        await retriever.store.upsert(points)
    return "cached" if cached else "computed"


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Index the corpus, query every mode; returns metrics and timings."""
    from ragops.config.settings import Settings
    from ragops.providers.embedder.factory import create_embedder, create_second_embedder
    from ragops.providers.vectorstore.base import SearchScope
    from ragops.providers.vectorstore.factory import create_vector_store
    from ragops.retrieval.service import ChunkInput, Retriever
    from ragops.retrieval.sparse import Bm25Encoder

    corpus, queries, qrels = load_dataset(Path(args.dataset), args.split, args.limit_docs)
    with tempfile.TemporaryDirectory(prefix="ragops-bench-") as tmp:
        overrides: dict[str, Any] = {"data_dir": Path(tmp), "qdrant_url": None}
        overrides["vector_store"] = args.store
        overrides["pgvector_url"] = args.pgvector_url
        base = Settings(**overrides)
        overrides["candidate_k"] = max(base.candidate_k, 100)
        if args.score_floor is not None:
            overrides["score_floor"] = args.score_floor
        if args.second_embedder is not None:
            overrides["second_embedder"] = args.second_embedder
        settings = Settings(**overrides)
        if args.cache_embeddings and settings.sentence_vectors:
            raise SystemExit(
                "--cache-embeddings keeps the chunks' vectors only: with "
                "RAGOPS_SENTENCE_VECTORS=true run without it (the units are embedded too)"
            )
        embedder = create_embedder(settings)
        second = create_second_embedder(settings)
        store = create_vector_store(settings, embedder)
        encoder = Bm25Encoder(k1=args.bm25_k1, b=args.bm25_b, delta=args.bm25_delta)
        retriever = Retriever(settings, embedder, store, encoder, second=second)
        floored = Retriever(settings, embedder, store, encoder, second=second)
        floored.sentence_floor = True  # the "sentence-floor" mode
        plain = settings.model_copy(update={"sentence_vectors": False})
        two_lists = Retriever(plain, embedder, store, encoder)  # the "two-lists" mode (nor the
        # second embedder)
        try:
            await store.ensure_ready(embedder.dimension)
            started = time.perf_counter()
            chunks = [
                ChunkInput(
                    id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench/{doc['_id']}")),
                    text=f"{doc.get('title', '')}\n{doc.get('text', '')}".strip(),
                    payload={
                        "tenant_id": TENANT,
                        "collection": COLLECTION,
                        "document_id": str(doc["_id"]),
                        "version": 1,
                        "chunk_id": str(doc["_id"]),
                        "title": doc.get("title", ""),
                        "section": "",
                        "text": doc.get("text", ""),
                        "start": 0,
                        "end": len(doc.get("text", "")),
                        "ordinal": 0,
                    },
                )
                for doc in corpus
            ]
            embeddings = await index_corpus(retriever, chunks, args)
            index_seconds = time.perf_counter() - started
            if not args.json:
                print()

            scope = SearchScope(tenant_id=TENANT, collection=COLLECTION)
            fts: Any = None
            fts_index_seconds = None
            if "fts" in args.modes:
                from pglocal import FullTextSearch

                fts = FullTextSearch(args.pgvector_url, store.table)  # type: ignore[attr-defined]
                fts_index_seconds = await fts.build()
            results: dict[str, Any] = {}
            query_seconds: dict[str, float] = {}
            latency_ms: dict[str, dict[str, float]] = {}
            search_ms: dict[str, dict[str, float]] = {}
            for mode in args.modes:
                searcher = {"sentence-floor": floored, "two-lists": two_lists}.get(mode, retriever)
                how = "hybrid" if mode in EXPERIMENTS else mode
                began = time.perf_counter()
                runs: dict[str, list[str]] = {}
                samples: list[float] = []
                searching: list[float] = []
                for qid, text in queries.items():
                    if mode == "fts":  # timed here: it has no question-time pass of its own
                        asked = time.perf_counter()
                        runs[qid] = await fts.search(text, TENANT, COLLECTION, 100)
                        samples.append((time.perf_counter() - asked) * 1000.0)
                        searching.append(samples[-1])
                        continue
                    found = await searcher.search(text, scope, top_k=100, mode=how)
                    runs[qid] = [p.document_id for p in found.passages]
                for text in queries.values() if mode != "fts" else ():
                    asked = time.perf_counter()
                    found = await searcher.search(text, scope, mode=how)
                    samples.append((time.perf_counter() - asked) * 1000.0)
                    searching.append(found.retrieve_ms)
                query_seconds[mode] = time.perf_counter() - began
                latency_ms[mode] = percentiles(samples)
                search_ms[mode] = percentiles(searching)
                results[mode] = evaluate(runs, qrels)
                halves = evaluate_halves(runs, qrels)
                results[mode]["ndcg@10_choice"] = halves["choice"]
                results[mode]["ndcg@10_other"] = halves["other"]
            emptied: dict[str, str] = {}
            if args.off_topic:
                off = off_topic_questions()
                for mode in args.modes:
                    if mode == "fts":
                        continue
                    searcher = {"sentence-floor": floored, "two-lists": two_lists}.get(
                        mode, retriever
                    )
                    how = "hybrid" if mode in EXPERIMENTS else mode
                    empty = 0
                    for text in off:
                        empty += not (await searcher.search(text, scope, mode=how)).passages
                    emptied[mode] = f"{empty}/{len(off)}"
        finally:
            if fts is not None:
                await fts.aclose()
            await embedder.aclose()
            if second is not None:
                await second.aclose()
            await store.aclose()
    return {
        "store": args.store,
        "fts_index_seconds": fts_index_seconds,
        "metrics": results,
        "index_seconds": index_seconds,
        "embeddings": embeddings,
        "query_seconds": query_seconds,
        "latency_ms": latency_ms,
        "search_ms": search_ms,
        "off_topic_emptied": emptied,
        "documents": len(corpus),
        "queries": len(queries),
        "settings": {
            name: getattr(settings, name)
            for name in ("embedder", "fusion", "rrf_k", "dense_weight", "sparse_weight")
            + ("candidate_k", "score_floor", "reranker")
            + ("second_embedder", "second_score_floor", "second_weight")
        }
        | {"bm25_k1": encoder.k1, "bm25_b": encoder.b, "bm25_delta": encoder.delta},
    }


def off_topic_questions() -> list[str]:
    """The questions of `bench/data/scope.yaml`: about this product, none about science."""
    import yaml

    data = yaml.safe_load((Path(__file__).parent / "data" / "scope.yaml").read_text("utf-8"))
    return [str(item["question"]) for item in data["questions"]]


def report(outcome: Mapping[str, Any]) -> str:
    """The human-readable table."""
    metrics = outcome["metrics"]
    lines = [
        f"{outcome['documents']} documents, {outcome['queries']} queries, "
        f"store {outcome['store']}; settings: "
        + ", ".join(f"{k}={v}" for k, v in outcome["settings"].items()),
        "",
        f"{'mode':<22}{'nDCG@10':>9}{'choice':>8}{'other':>8}{'R@10':>9}{'R@100':>9}"
        f"{'seconds':>9}{'p50 ms':>9}{'p95 ms':>9}{'search p95':>12}",
    ]
    for mode, values in metrics.items():
        latency = outcome["latency_ms"][mode]
        lines.append(
            f"{mode:<22}{values['ndcg@10']:>9.4f}{values['ndcg@10_choice']:>8.4f}"
            f"{values['ndcg@10_other']:>8.4f}{values['recall@10']:>9.4f}"
            f"{values['recall@100']:>9.4f}{outcome['query_seconds'][mode]:>9.1f}"
            f"{latency['p50']:>9.1f}{latency['p95']:>9.1f}"
            f"{outcome['search_ms'][mode]['p95']:>12.1f}"
        )
    if outcome["off_topic_emptied"]:
        lines.append(
            "off-topic questions left with no passage: "
            + ", ".join(f"{m} {n}" for m, n in outcome["off_topic_emptied"].items())
        )
    lines.append("")
    lines.append("published reference (nDCG@10, SciFact test)")
    lines.extend(f"{name:<38}{value:>9.3f}" for name, value in REFERENCE)
    total = outcome["index_seconds"] + sum(outcome["query_seconds"].values())
    rate = outcome["documents"] / outcome["index_seconds"] if outcome["index_seconds"] else 0.0
    lines.append("")
    embedding = (
        "corpus embeddings from the --cache-embeddings file, NOT recomputed"
        if outcome["embeddings"] == "cached"
        else "embedding included"
    )
    lines.append(
        f"indexing {outcome['index_seconds']:.1f} s ({rate:.1f} documents/s, {embedding}), "
        f"querying {sum(outcome['query_seconds'].values()):.1f} s, "
        f"total {total:.1f} s"
    )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="BEIR-layout folder")
    parser.add_argument("--split", default="test", help="qrels file name (default: test)")
    parser.add_argument("--json", action="store_true", help="print metrics as JSON only")
    parser.add_argument("--limit-docs", type=int, default=None, help="index at most N docs")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated modes")
    parser.add_argument("--score-floor", type=float, default=None, help="override the floor")
    parser.add_argument("--store", choices=sorted(STORE_MODES), default="edge", help="store")
    parser.add_argument(
        "--pgvector-url", default=None, help="PostgreSQL URL (default: a private pgserver)"
    )
    parser.add_argument(
        "--bm25-k1", type=float, default=DEFAULT_K1, help=f"BM25 k1 (default {DEFAULT_K1})"
    )
    parser.add_argument(
        "--bm25-b", type=float, default=DEFAULT_B, help=f"BM25 b (default {DEFAULT_B})"
    )
    parser.add_argument(
        "--bm25-delta",
        type=float,
        default=DEFAULT_DELTA,
        help=f"BM25L delta, 0 is classic BM25 (default {DEFAULT_DELTA})",
    )
    parser.add_argument(
        "--cache-embeddings",
        action="store_true",
        help="reuse corpus embeddings kept in var/bench/ (index time then excludes embedding)",
    )
    parser.add_argument(
        "--second-embedder",
        choices=["none", "bge-small"],
        default=None,
        help="RAGOPS_SECOND_EMBEDDER for the run (default: the setting's value)",
    )
    parser.add_argument(
        "--off-topic",
        action="store_true",
        help="count the off-topic questions of bench/data/scope.yaml left with no passage",
    )
    args = parser.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(args.modes) - set(STORE_MODES[args.store])
    if unknown:
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    if args.store == "pgvector" and args.pgvector_url is None:
        from pglocal import private_pgvector

        with private_pgvector() as url:
            args.pgvector_url = url
            outcome = asyncio.run(run(args))
    else:
        outcome = asyncio.run(run(args))
    if args.json:
        payload: dict[str, Any] = dict(outcome["metrics"])
        payload["latency_ms"] = outcome["latency_ms"]
        payload["search_ms"] = outcome["search_ms"]
        payload["index_seconds"] = round(outcome["index_seconds"], 1)
        payload["embeddings"] = outcome["embeddings"]
        payload["store"] = outcome["store"]
        if outcome["off_topic_emptied"]:
            payload["off_topic_emptied"] = outcome["off_topic_emptied"]
        if outcome["fts_index_seconds"] is not None:
            payload["fts_index_seconds"] = round(outcome["fts_index_seconds"], 1)
        payload["seconds"] = round(
            outcome["index_seconds"] + sum(outcome["query_seconds"].values()), 1
        )
        print(json.dumps(payload))
    else:
        print(report(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main())
