"""Candidate embedders measured offline on SciFact: bge-small-en as an int8 ONNX file.

    python bench/embedder_candidates.py --dataset ../shared/data/scifact --model-dir DIR
                                        [--doc-max 512 256] [--weights 0.7 1.5 2.0]
                                        [--latency] [--embed-only] [--json]

DIR holds `model.onnx` (a BERT encoder whose output is `last_hidden_state`) and
`tokenizer.json`; the model is run with onnxruntime and the `tokenizers` library only: CLS
pooling (the first token of the last hidden state), vectors scaled to unit length, documents
cut at `--doc-max` word pieces. Corpus vectors are written to var/bench/ in slices as they
are made, so an interrupted run resumes where it stopped (`--embed-only` stops there).

The replay is the one of `retrieval_variants.py`: exact cosine over the corpus vectors, the
product's BM25 encoder with the stores' IDF, the product's `fuse` with z-scores, every
variant scored without and with a cosine floor, on the whole query set and on each half of
`query_halves` (choose on "choice", keep only what does not lose on "other"). Questions are
embedded one per run (the graph quantises activations per run), as they are and with the
bge instruction prefix; `--weights` adds z-score fusions with other dense weights and
min-max fusion. The default embedder's rows use its cached corpus vectors and its floor
(`RAGOPS_SCORE_FLOOR`, 0.25); for bge two equivalent floors are printed and applied: the bge
cosine at the share of judged-relevant pairs the floor cuts for the default embedder, and
at the percentile the floor holds among the best corpus cosines of questions on another
subject (those of `bench/data/scope.yaml`). `--latency` times each question embedded alone,
alternating with the default embedder's `embed_query`; the corpus throughput is printed when
vectors are made.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from onnx_session import cpu_session

BGE_PREFIX = "Represent this sentence for searching relevant passages: "
SLICE = 256
FLOOR = float(os.environ.get("RAGOPS_SCORE_FLOOR", "0.25"))


class OnnxCls:
    """A BERT-style ONNX encoder with CLS pooling and unit-length output."""

    def __init__(self, folder: Path, max_len: int, threads: int) -> None:
        from tokenizers import Tokenizer

        self.session, self.inputs = cpu_session(folder / "model.onnx", threads)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_len)
        self.tokenizer.no_padding()
        self.max_len = max_len

    def lengths(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text after truncation (with [CLS] and [SEP])."""
        return [len(e.ids) for e in self.tokenizer.encode_batch(list(texts))]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of `texts`, one batch padded to its longest text."""
        encs = self.tokenizer.encode_batch(list(texts))
        width = max(len(e.ids) for e in encs)
        ids = np.zeros((len(encs), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, enc in enumerate(encs):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run(None, feed)[0]
        cls = hidden[:, 0, :].astype(np.float32)
        return cls / np.linalg.norm(cls, axis=1, keepdims=True)


def corpus_vectors(
    model: OnnxCls,
    texts: Sequence[str],
    tag: str,
    batch: int,
    cache_dir: Path,
    known: dict[int, np.ndarray] | None = None,
) -> tuple[np.ndarray, dict[str, float]]:
    """Vectors of the corpus, made slice by slice (shortest texts first) and kept on disk.

    `known` rows (texts a longer cut already embedded whole) are copied, not embedded."""
    digest = hashlib.sha256(tag.encode())
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    key = f"{tag}-{digest.hexdigest()[:12]}"
    whole = cache_dir / f"{key}.npy"
    if whole.exists():
        return np.load(whole), {}
    lengths = model.lengths(texts)
    known = known or {}
    order = sorted((i for i in range(len(texts)) if i not in known), key=lambda i: lengths[i])
    out = np.zeros((len(texts), 384), dtype=np.float32)
    for row, vec in known.items():
        out[row] = vec
    spent, made, pieces = 0.0, 0, 0
    cache_dir.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(order), SLICE):
        part = order[start : start + SLICE]
        path = cache_dir / f"{key}-slice{start // SLICE:03d}.npy"
        if path.exists():
            out[part] = np.load(path)
            continue
        began = time.perf_counter()
        vecs = np.concatenate(
            [
                model.embed([texts[i] for i in part[b : b + batch]])
                for b in range(0, len(part), batch)
            ]
        )
        spent += time.perf_counter() - began
        made += len(part)
        pieces += sum(lengths[i] for i in part)
        np.save(path, vecs)
        out[part] = vecs
        print(
            f"  {tag}: {start + len(part)}/{len(order)} texts, {made / spent:.1f} texts/s, "
            f"load {os.getloadavg()[0]:.2f}",
            file=sys.stderr,
            flush=True,
        )
    np.save(whole, out)
    for path in cache_dir.glob(f"{key}-slice*.npy"):
        path.unlink()
    stats = {}
    if made:
        stats = {
            "texts": made,
            "seconds": round(spent, 1),
            "texts_per_s": round(made / spent, 2),
            "pieces_per_s": round(pieces / spent, 1),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }
    return out, stats


def off_domain_questions() -> list[str]:
    """The questions of `bench/data/scope.yaml`: about this product, none about science."""
    import yaml

    data = yaml.safe_load((Path(__file__).parent / "data" / "scope.yaml").read_text("utf-8"))
    return [str(item["question"]) for item in data["questions"]]


def equivalent_floor(
    floor: float, base_pairs: np.ndarray, new_pairs: np.ndarray
) -> tuple[float, float]:
    """The cosine of the new model at the percentile `floor` holds among the base's."""
    share = float((base_pairs < floor).mean())
    return round(float(np.quantile(new_pairs, share)), 4), round(100 * share, 2)


def latencies(model: OnnxCls, texts: Sequence[str], plain: Sequence[str]) -> dict[str, Any]:
    """Milliseconds to embed each question alone, p50 / p95: bge-small with the instruction
    (`texts`) and without it (`plain`), through onnxruntime here, and the product's default
    embedder (`plain`, its `embed_query`), taking turns question by question."""
    import asyncio

    from retrieval import percentiles

    from ragops.config.settings import Settings
    from ragops.providers.embedder.factory import create_embedder

    async def go() -> dict[str, Any]:
        embedder = create_embedder(Settings())
        try:
            model.embed(list(texts[:3]))  # warm-up
            for text in plain[:3]:
                await embedder.embed_query(text)
            load = os.getloadavg()[0]
            bge, bare, base = [], [], []
            for text, question in zip(texts, plain, strict=True):
                began = time.perf_counter()
                model.embed([text])
                bge.append(1000 * (time.perf_counter() - began))
                began = time.perf_counter()
                model.embed([question])
                bare.append(1000 * (time.perf_counter() - began))
                began = time.perf_counter()
                await embedder.embed_query(question)
                base.append(1000 * (time.perf_counter() - began))
            return {
                "bge-small (instruction)": percentiles(bge),
                "bge-small (plain)": percentiles(bare),
                embedder.model_id: percentiles(base),
                "load_avg_1m": round((load + os.getloadavg()[0]) / 2, 2),
            }
        finally:
            await embedder.aclose()

    return asyncio.run(go())


def sweep(args: argparse.Namespace) -> dict[str, Any]:
    """Corpus vectors, then every variant scored without and with the floors."""
    from retrieval import CACHE_DIR, evaluate_halves, load_dataset
    from retrieval_sweep import cached_corpus_vectors, corpus_rows, dense_search, embed_with_product
    from variant_replay import LIMIT, Bm25, Lexicon, query_terms

    from ragops.retrieval.fusion import fuse

    dataset, folder = Path(args.dataset), Path(args.model_dir)
    corpus, queries, qrels = load_dataset(dataset)
    ids, texts, rows = corpus_rows(corpus)
    qids = list(queries)
    out: dict[str, Any] = {"throughput": {}, "rows": [], "floors": {}}
    bge_docs: dict[int, np.ndarray] = {}
    for doc_max in sorted(args.doc_max, reverse=True):
        model = OnnxCls(folder, doc_max, args.threads)
        known: dict[int, np.ndarray] = {}
        longer = [m for m in bge_docs if m > doc_max]
        if longer:  # texts within doc_max pieces are the same vectors at any longer cut
            whole = bge_docs[min(longer)]
            known = {i: whole[i] for i, n in enumerate(model.lengths(texts)) if n < doc_max}
        tag = f"{dataset.name}-bge{doc_max}"
        bge_docs[doc_max], out["throughput"][doc_max] = corpus_vectors(
            model, texts, tag, args.batch, CACHE_DIR, known
        )
    if not args.json:
        print(f"  corpus embedding: {json.dumps(out['throughput'])}", flush=True)
    if args.embed_only:
        return out
    query_model = OnnxCls(folder, 512, args.threads)
    claims = [queries[q] for q in qids]
    # one question per run, as the retriever embeds a question: the graph quantises its
    # activations per run, so a text's vector depends slightly on what it is run with
    bge_q = {
        prefix: np.concatenate([query_model.embed([prefix + c]) for c in claims])
        for prefix in ("", BGE_PREFIX)
    }
    cached = cached_corpus_vectors(dataset, texts)
    mini_docs = cached if cached is not None else embed_with_product(texts)
    mini_q = embed_with_product(claims)
    lex = Lexicon(texts)
    bm25 = Bm25(lex)
    sparse = {
        q: [(ids[r], s) for r, s in bm25.score_terms(query_terms(lex, queries[q]))] for q in qids
    }

    # floors: the base model's floor moved to the same share of judged-relevant pairs, and
    # of the off-domain questions' best cosine over the corpus
    off = off_domain_questions()
    mini_off = embed_with_product(off)

    def bge_alone(texts: Sequence[str]) -> np.ndarray:
        return np.concatenate([query_model.embed([t]) for t in texts])

    def relevant_pairs(docs: np.ndarray, qv: np.ndarray) -> np.ndarray:
        return np.array(
            [
                float(docs[rows[d]] @ qv[i])
                for i, q in enumerate(qids)
                for d, g in qrels[q].items()
                if g > 0 and d in rows
            ]
        )

    def best(docs: np.ndarray, qv: np.ndarray) -> np.ndarray:
        return (qv @ docs.T).max(axis=1)

    mini_rel = relevant_pairs(mini_docs, mini_q)
    mini_off_best = best(mini_docs, mini_off)
    mini_claim_best = best(mini_docs, mini_q)
    out["floors"]["minilm"] = {
        "relevant_below_floor_pct": round(100 * float((mini_rel < FLOOR).mean()), 2),
        "off_domain_best": [
            round(float(mini_off_best.min()), 4),
            round(float(np.median(mini_off_best)), 4),
            round(float(mini_off_best.max()), 4),
        ],
        "off_domain_best_above_floor": int((mini_off_best >= FLOOR).sum()),
        "claims_best_min": round(float(mini_claim_best.min()), 4),
        "off_domain_questions": len(off),
    }

    def score(
        name: str,
        runs: dict[str, list[tuple[str, float]]],
        docs: np.ndarray,
        qv: np.ndarray,
        floors: Sequence[float],
    ) -> None:
        plain = {q: [i for i, _ in runs[q]] for q in qids}
        row: dict[str, Any] = {"variant": name, "no_floor": evaluate_halves(plain, qrels)}
        for floor in floors:
            kept = {}
            for n, q in enumerate(qids):
                cos = docs[[rows[i] for i in plain[q]]] @ qv[n] if plain[q] else np.zeros(0)
                kept[q] = [i for i, c in zip(plain[q], cos, strict=True) if c >= floor]
            row[f"floor {floor}"] = evaluate_halves(kept, qrels)
        out["rows"].append(row)
        if not args.json:
            cells = "   ".join(
                f"{k}: {v['whole']:.4f} / {v['choice']:.4f} / {v['other']:.4f}"
                for k, v in row.items()
                if k != "variant"
            )
            print(f"{name:<44}{cells}", flush=True)

    def both(
        label: str,
        docs: np.ndarray,
        qv: np.ndarray,
        floors: Sequence[float],
        weights: Sequence[float] = (),
    ) -> None:
        dense = {q: dense_search(docs, ids, qv[n], LIMIT) for n, q in enumerate(qids)}
        score(f"{label}: dense", dense, docs, qv, floors)
        hybrid = {q: fuse(dense[q], sparse[q], method="zscore") for q in qids}
        score(f"{label}: hybrid z-score", hybrid, docs, qv, floors)
        for weight in weights:
            runs = {
                q: fuse(dense[q], sparse[q], method="zscore", dense_weight=weight) for q in qids
            }
            score(f"{label}: z-score, dense weight {weight}", runs, docs, qv, floors)
        if weights:
            runs = {q: fuse(dense[q], sparse[q], method="weighted") for q in qids}
            score(f"{label}: min-max fusion", runs, docs, qv, floors)

    both("MiniLM-L6 int8 (default)", mini_docs, mini_q, [FLOOR])
    for doc_max, docs in bge_docs.items():
        for prefix, qv in bge_q.items():
            rel = relevant_pairs(docs, qv)
            offq = bge_alone([prefix + t for t in off])
            off_best = best(docs, offq)
            by_rel, share = equivalent_floor(FLOOR, mini_rel, rel)
            by_off, off_share = equivalent_floor(FLOOR, mini_off_best, off_best)
            key = f"bge {doc_max}{', instruction' if prefix else ''}"
            out["floors"][key] = {
                "same_share_of_relevant_pairs": [by_rel, share],
                "same_percentile_of_off_domain_best": [by_off, off_share],
                "off_domain_best": [
                    round(float(off_best.min()), 4),
                    round(float(np.median(off_best)), 4),
                    round(float(off_best.max()), 4),
                ],
                "claims_best_min": round(float(best(docs, qv).min()), 4),
            }
            if not args.json:
                print(f"  floors for {key}: {json.dumps(out['floors'][key])}", flush=True)
            floors = sorted({by_rel, by_off, FLOOR})
            both(
                f"bge-small, docs {doc_max}, {'instruction' if prefix else 'plain'} question",
                docs,
                qv,
                floors,
                args.weights if not prefix else (),
            )
    if not args.json:
        print(f"  MiniLM floors: {json.dumps(out['floors']['minilm'])}", flush=True)
    if args.latency:  # one question per call, the two models alternating over the claims
        out["latency_ms"] = latencies(query_model, [BGE_PREFIX + c for c in claims], claims)
        if not args.json:
            print(f"  latency: {json.dumps(out['latency_ms'])}", flush=True)
    return out


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="BEIR-layout folder")
    parser.add_argument("--model-dir", required=True, help="folder with model.onnx, tokenizer.json")
    parser.add_argument("--doc-max", type=int, nargs="+", default=[512], help="word pieces")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")
    parser.add_argument("--embed-only", action="store_true", help="only make the corpus vectors")
    parser.add_argument(
        "--weights", type=float, nargs="*", default=[], help="more z-score dense weights to try"
    )
    parser.add_argument("--latency", action="store_true", help="time each question's embedding")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    out = sweep(parse_args(argv))
    if parse_args(argv).json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
