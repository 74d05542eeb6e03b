"""Second offline sweep: fusion, BM25, feedback and long-text variants, scored on two halves.

    python bench/retrieval_variants.py --dataset ../shared/data/scifact [--json] [--only NAME,...]
                                       [--skip-embedding] [--latency]

Same replay as `retrieval_sweep.py` (exact cosine over the cached corpus vectors of
`bench/retrieval.py --cache-embeddings`, the product's BM25 encoder with the stores' IDF, the
product's `fuse`), but every variant is scored twice: without the score floor and with it
("floor": a document whose cosine to the question is under `RAGOPS_SCORE_FLOOR` is dropped
from the fused ranking, as the retriever drops such passages). Groups (`--only`):

* `fusion` — z-score fusion where a candidate one search missed gets its real score on that
  side (its cosine, its BM25 score) instead of that side's lowest z-score.
* `bm25` — BM25+ / BM25L (a lower bound `delta` on a matched term's weight), query terms
  weighted by how often they occur, query terms under an IDF cut dropped, no stemming, a
  bonus for adjacent query-term pairs (bigrams) in a document.
* `rm3` — RM3 pseudo-relevance feedback on the BM25 side (the question's terms plus the
  heaviest terms of the first BM25 hits), fused with dense.
* `dense` — the question embedded as "query: ..."; long documents embedded whole, in
  windows of at most 250 word pieces instead of their first 256: the document vector pooled
  from the windows' (mean, mean weighted by pieces, first window plus a fraction of the rest)
  or its best window's cosine (the windows are embedded once and kept in var/bench/: about
  10 minutes on the shared cores; `--skip-embedding` leaves them out).

* `sentences` — every abstract cut into sentences by the product's splitter
  (`chat.units.sentences_of`), the title a unit of its own or written before each sentence,
  each unit embedded once (kept in var/bench/: 5 to 7 minutes each way on the shared cores;
  `--skip-embedding` leaves the group out). A document's score is its best unit's cosine or
  the mean of its best two, ranked alone, in place of the whole-text cosine in the fusion, or
  fused as a third z-scored list, over the whole corpus or over the fused top 100 only.
  `--latency` times that last step per question on a temporary Qdrant Edge shard (the
  sentences as a MaxSim multivector, a query restricted to the 100 candidates' ids).

Choose on "choice", keep only what does not lose on "other" (`bench/retrieval.py`).
The replay pieces live in `variant_replay.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from retrieval import CACHE_DIR, evaluate_halves, load_dataset
from retrieval_sweep import cached_corpus_vectors, corpus_rows, dense_search, embed_with_product
from variant_replay import (
    LIMIT,
    Bm25,
    Lexicon,
    completed_zscore,
    normalised_fusion,
    per_document,
    pooled,
    query_terms,
    rm3_terms,
    sentence_units,
    unit_index,
    windows_of,
)

Ranking = list[tuple[str, float]]
FLOOR = float(os.environ.get("RAGOPS_SCORE_FLOOR", "0.25"))


def sweep(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Score the variants of the chosen groups."""
    from ragops.retrieval.fusion import fuse

    groups = (
        set(args.only.split(",")) if args.only else {"fusion", "bm25", "rm3", "dense", "sentences"}
    )
    dataset = Path(args.dataset)
    corpus, queries, qrels = load_dataset(dataset)
    ids, texts, rows = corpus_rows(corpus)
    qids = list(queries)
    cached = cached_corpus_vectors(dataset, texts)
    cvec = cached if cached is not None else embed_with_product(texts)
    qmat = embed_with_product([queries[q] for q in qids])
    qvec = dict(zip(qids, qmat, strict=True))
    lex = Lexicon(texts)
    base_bm25 = Bm25(lex)
    qterms = {q: query_terms(lex, queries[q]) for q in qids}
    results: list[dict[str, Any]] = []

    def cosine(q: str, vectors: np.ndarray = cvec) -> Callable[[str], float]:
        return lambda item: float(vectors[rows[item]] @ qvec[q])

    def score(
        name: str,
        runs: Mapping[str, Ranking],
        vectors: np.ndarray = cvec,
        floor_by: Callable[[str], Callable[[str], float]] | None = None,
    ) -> None:
        plain = {q: [i for i, _ in runs[q]] for q in qids}
        by = floor_by or (lambda q: cosine(q, vectors))
        floored = {q: [i for i in plain[q] if by(q)(i) >= FLOOR] for q in qids}
        a, b = evaluate_halves(plain, qrels), evaluate_halves(floored, qrels)
        results.append({"variant": name, "no_floor": a, "floor": b})
        if not args.json:
            print(
                f"{name:<52}{a['whole']:>8.4f}{a['choice']:>8.4f}{a['other']:>8.4f}"
                f"   {b['whole']:>8.4f}{b['choice']:>8.4f}{b['other']:>8.4f}",
                flush=True,
            )

    def as_ids(found: list[tuple[int, float]]) -> Ranking:
        return [(ids[r], s) for r, s in found]

    dense = {q: dense_search(cvec, ids, qvec[q], LIMIT) for q in qids}
    sparse = {q: as_ids(base_bm25.score_terms(qterms[q])) for q in qids}
    if not args.json:
        print(
            f"{'variant':<52}{'no floor: whole / choice / other':>24}   "
            f"{'floor: whole / choice / other':>24}"
        )
    score("dense", dense)
    score("bm25", sparse)
    zbase = {q: fuse(dense[q], sparse[q], method="zscore") for q in qids}
    score("hybrid zscore (default)", zbase)

    if "fusion" in groups:

        def bm_of(q: str) -> Callable[[str], float]:
            return lambda item: base_bm25.score_row(qterms[q], rows[item])

        for how, top in (("top", 10), ("top", 30), ("robust", 0), ("mnz", 0)):
            label = f"normalised by {how}{f' {top}' if top else ''}"
            score(label, {q: normalised_fusion(dense[q], sparse[q], how, top) for q in qids})
        score(
            "zscore, BM25-only hits get their cosine",
            {q: completed_zscore(dense[q], sparse[q], cosine(q), None) for q in qids},
        )
        score(
            "zscore, dense-only hits get their BM25",
            {q: completed_zscore(dense[q], sparse[q], None, bm_of(q)) for q in qids},
        )
        score(
            "zscore, both completed",
            {q: completed_zscore(dense[q], sparse[q], cosine(q), bm_of(q)) for q in qids},
        )
        score(
            "zscore reproduced (no completion)",
            {q: completed_zscore(dense[q], sparse[q], None, None) for q in qids},
        )

    def hybrid_with(bm: Bm25, terms: Mapping[str, Mapping[str, float]]) -> dict[str, Ranking]:
        runs = {q: as_ids(bm.score_terms(terms[q])) for q in qids}
        return {q: fuse(dense[q], runs[q], method="zscore") for q in qids}

    if "bm25" in groups:
        for delta in (0.25, 0.5, 1.0):
            score(f"BM25+ delta {delta}", hybrid_with(Bm25(lex, delta=delta), qterms))
        for delta in (0.25, 0.5):
            score(f"BM25L delta {delta}", hybrid_with(Bm25(lex, delta=delta, variant="l"), qterms))
        tf_terms = {q: query_terms(lex, queries[q], tf=True) for q in qids}
        score("query terms weighted by count", hybrid_with(base_bm25, tf_terms))
        for cut in (1.0, 2.0):
            cut_terms = {q: query_terms(lex, queries[q], idf_cut=cut) for q in qids}
            score(f"query terms with IDF >= {cut}", hybrid_with(base_bm25, cut_terms))
        raw = Lexicon(texts, stem=False)
        raw_terms = {q: query_terms(raw, queries[q]) for q in qids}
        score("no stemming", hybrid_with(Bm25(raw), raw_terms))
        every = Lexicon(texts, stopwords=False)
        every_terms = {q: query_terms(every, queries[q]) for q in qids}
        score("no stopword list", hybrid_with(Bm25(every), every_terms))
        for bonus in (0.5, 1.0):
            runs = {}
            for q in qids:
                qa = lex.analyze(queries[q])
                pairs = set(zip(qa, qa[1:], strict=False))
                first = base_bm25.score_terms(qterms[q], 300)
                boosted = [
                    (r, s + bonus * sum(lex.idf.get(b2, 0.0) for _, b2 in pairs & lex.bigrams[r]))
                    for r, s in first
                ]
                runs[q] = as_ids(sorted(boosted, key=lambda kv: (-kv[1], kv[0]))[:LIMIT])
            score(
                f"bigram bonus {bonus} x IDF",
                {q: fuse(dense[q], runs[q], method="zscore") for q in qids},
            )

    if "rm3" in groups:
        for docs, expansion, weight in ((5, 10, 0.3), (10, 10, 0.3), (10, 20, 0.5), (3, 10, 0.2)):
            terms = {}
            for q in qids:
                first = base_bm25.score_terms(qterms[q], docs)
                terms[q] = rm3_terms(base_bm25, qterms[q], first, docs, expansion, weight)
            label = f"RM3 on BM25: {docs} docs, {expansion} terms, weight {weight}"
            score(label, hybrid_with(base_bm25, terms))

    if "dense" in groups:
        pq = embed_with_product(["query: " + queries[q] for q in qids])
        pvec = dict(zip(qids, pq, strict=True))
        pdense = {q: dense_search(cvec, ids, pvec[q], LIMIT) for q in qids}
        score(
            "dense with 'query: ' prefix",
            {q: fuse(pdense[q], sparse[q], method="zscore") for q in qids},
        )
        if not args.skip_embedding:
            windows, owner, pieces = windows_of(texts)
            cache = CACHE_DIR / f"{dataset.name}-windows.npy"
            if cache.exists():
                wvec = np.load(cache)
            else:
                wvec = embed_with_product(windows)
                cache.parent.mkdir(parents=True, exist_ok=True)
                np.save(cache, wvec)
            first = [i == 0 or owner[i - 1] != owner[i] for i in range(len(owner))]
            pools = (
                ("mean of windows", [1.0] * len(owner)),
                ("mean of windows weighted by pieces", [float(p) for p in pieces]),
                ("first window + 0.5 x the rest", [1.0 if f else 0.5 for f in first]),
                ("first window + 0.25 x the rest", [1.0 if f else 0.25 for f in first]),
            )
            for label, weights in pools:
                vectors = pooled(wvec, owner, weights, len(ids))
                pdense = {q: dense_search(vectors, ids, qvec[q], LIMIT) for q in qids}
                score(f"dense alone, doc = {label}", pdense, vectors)
                runs = {q: fuse(pdense[q], sparse[q], method="zscore") for q in qids}
                score(f"doc vector = {label}", runs, vectors)
            owner_arr = np.array(owner)
            maxdense = {}
            for q in qids:
                sims = wvec @ qvec[q]
                best = np.full(len(ids), -1.0, dtype=np.float32)
                np.maximum.at(best, owner_arr, sims)
                top = np.argsort(-best, kind="stable")[:LIMIT]
                maxdense[q] = [(ids[i], float(best[i])) for i in top]
            score(
                "doc score = max cosine over windows",
                {q: fuse(maxdense[q], sparse[q], method="zscore") for q in qids},
            )
    if "sentences" in groups and not args.skip_embedding:
        sentence_group(args, dataset, corpus, ids, qids, qvec, dense, sparse, zbase, score, cvec)
    return results


def cached_unit_vectors(dataset: Path, name: str, units: Sequence[str]) -> np.ndarray:
    """The product embedder's vectors of `units`, computed once and kept in var/bench/."""
    import hashlib

    from ragops.config.settings import Settings
    from ragops.providers.embedder.factory import create_embedder

    digest = hashlib.sha256(create_embedder(Settings()).model_id.encode())
    for unit in units:
        digest.update(unit.encode("utf-8") + b"\0")
    cache = CACHE_DIR / f"{dataset.name}-{name}-{digest.hexdigest()[:16]}.npy"
    if cache.exists():
        return np.load(cache)
    started = time.perf_counter()
    vectors = embed_with_product(units)
    print(f"# embedded {len(units)} {name} in {time.perf_counter() - started:.1f} s", flush=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors


def sentence_group(
    args: argparse.Namespace,
    dataset: Path,
    corpus: Sequence[Mapping[str, Any]],
    ids: Sequence[str],
    qids: Sequence[str],
    qvec: Mapping[str, np.ndarray],
    dense: Mapping[str, Ranking],
    sparse: Mapping[str, Ranking],
    zbase: Mapping[str, Ranking],
    score: Callable[..., None],
    corpus_vectors: np.ndarray,
) -> None:
    """Sentence-level dense signals: each document's best sentence cosine ("max") and the
    mean of its best two ("top-2"), over the whole corpus or over the fused top 100 only,
    fused as a third z-scored list or in place of the whole-abstract cosine."""
    from ragops.retrieval.fusion import fuse, z_score_fusion

    def top(signal: np.ndarray) -> Ranking:
        found = np.argpartition(-signal, LIMIT)[:LIMIT]
        found = found[np.argsort(-signal[found], kind="stable")]
        return [(ids[i], float(signal[i])) for i in found]

    rows = {item: i for i, item in enumerate(ids)}
    for titled in (False, True):
        units, owner = sentence_units(corpus, titled)
        name = "sentences-titled" if titled else "sentences"
        svec = cached_unit_vectors(dataset, name, units)
        index = unit_index(owner, len(ids))
        kind = "title + sentence" if titled else "title, sentences"
        signals: dict[str, dict[str, np.ndarray]] = {"max": {}, "top-2": {}}
        for q in qids:
            signals["max"][q], signals["top-2"][q] = per_document(svec @ qvec[q], index)
        for how, signal in signals.items():
            whole = {q: top(signal[q]) for q in qids}
            label = f"{kind}: {how}"
            score(f"{label}, dense alone", whole)
            score(
                f"{label} replaces the cosine",
                {q: fuse(whole[q], sparse[q], method="zscore") for q in qids},
            )
            for weight in (1.0, 0.5):
                score(
                    f"{label} third, weight {weight}",
                    {
                        q: z_score_fusion([dense[q], sparse[q], whole[q]], [1.0, 1.0, weight])
                        for q in qids
                    },
                )
            head: dict[str, Ranking] = {}
            for q in qids:
                pool = [item for item, _ in zbase[q][:LIMIT]]
                head[q] = sorted(
                    ((item, float(signal[q][rows[item]])) for item in pool),
                    key=lambda kv: (-kv[1], kv[0]),
                )
            for weight in (1.0, 0.5):
                runs = {
                    q: z_score_fusion([dense[q], sparse[q], head[q]], [1.0, 1.0, weight])
                    for q in qids
                }
                score(f"{label} third over fused top 100, w {weight}", runs)
                if how == "max" and weight == 1.0:
                    # The floor on the better of the whole-text and the best-sentence cosine
                    # (a change of what the floor promises, shown for its cost only).
                    def either(q: str, signal: Mapping[str, np.ndarray] = signal) -> Any:
                        return lambda doc: max(
                            float(corpus_vectors[rows[doc]] @ qvec[q]), signal[q][rows[doc]]
                        )

                    score(
                        f"{label} the same, floor on max(whole, sentence)",
                        runs,
                        corpus_vectors,
                        either,
                    )
        if not args.json:
            print(f"# {kind}: {len(units)} units", flush=True)
        if not titled:
            print(f"# {json.dumps(off_domain(corpus_vectors, svec))}", flush=True)
        if args.latency and not titled:
            timed = sentence_latency(
                corpus_vectors, svec, index, qids, qvec, dense, sparse, zbase, rows
            )
            print(f"# added step per question, {len(qids)} questions: {json.dumps(timed)}")


def off_domain(corpus_vectors: np.ndarray, svec: np.ndarray) -> dict[str, Any]:
    """How the floor treats questions SciFact cannot answer (every question of
    bench/data/answers.yaml and bench/data/cache_questions.json: runbook operations, general
    knowledge) when it judges by the whole text or by the best sentence: each question's best
    cosine over the corpus either way, and how many pass the floor."""
    import yaml

    data = Path(__file__).resolve().parent / "data"
    rows = yaml.safe_load((data / "answers.yaml").read_text())["questions"]
    asked = [row["question"] for row in rows]
    groups = json.loads((data / "cache_questions.json").read_text())
    asked += [text for group in groups for same in group for text in same]
    asked = list(dict.fromkeys(asked))
    qmat = embed_with_product(asked)
    whole = (qmat @ corpus_vectors.T).max(axis=1)
    best = np.max(np.stack([(qmat @ part.T).max(axis=1) for part in np.array_split(svec, 8)]), 0)
    return {
        "off_domain_questions": len(asked),
        "best_whole_cosine": {
            "max": round(float(whole.max()), 4),
            "p50": round(float(np.median(whole)), 4),
        },
        "best_sentence_cosine": {
            "max": round(float(best.max()), 4),
            "p50": round(float(np.median(best)), 4),
        },
        "passing_floor_whole": int((whole >= FLOOR).sum()),
        "passing_floor_sentence": int((np.maximum(whole, best) >= FLOOR).sum()),
    }


def sentence_latency(
    corpus_vectors: np.ndarray,
    svec: np.ndarray,
    index: np.ndarray,
    qids: Sequence[str],
    qvec: Mapping[str, np.ndarray],
    dense: Mapping[str, Ranking],
    sparse: Mapping[str, Ranking],
    zbase: Mapping[str, Ranking],
    rows: Mapping[str, int],
) -> dict[str, dict[str, float]]:
    """What the "third list over the fused top 100" step adds to a question, timed alone:
    the embedded store's MaxSim query restricted to the 100 candidates (Qdrant Edge, each
    abstract one point holding its whole-text vector and its sentences as a multivector, exact
    search), the same scores computed in numpy from vectors in memory, and the three-list
    fusion against the two-list one."""
    import tempfile

    import qdrant_edge as qe

    from ragops.retrieval.fusion import z_score_fusion

    config = qe.EdgeConfig(
        vectors={
            "dense": qe.EdgeVectorParams(size=svec.shape[1], distance=qe.Distance.Cosine),
            "sentences": qe.EdgeVectorParams(
                size=svec.shape[1],
                distance=qe.Distance.Cosine,
                multivector_config=qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim),
            ),
        }
    )
    per_doc = [svec[row[row >= 0]] for row in index]
    timings: dict[str, list[float]] = {"store": [], "numpy": [], "fuse3": [], "fuse2": []}
    with tempfile.TemporaryDirectory() as folder:
        shard = qe.EdgeShard.create(folder, config)
        for start in range(0, len(per_doc), 256):
            points = [
                qe.Point(
                    row,
                    {"dense": corpus_vectors[row].tolist(), "sentences": per_doc[row].tolist()},
                    {},
                )
                for row in range(start, min(start + 256, len(per_doc)))
            ]
            shard.update(qe.UpdateOperation.upsert_points(points))
        for q in qids:
            pool = [rows[item] for item, _ in zbase[q][:LIMIT]]
            started = time.perf_counter()
            found = shard.query(
                qe.QueryRequest(
                    limit=LIMIT,
                    query=qe.Query.Nearest([qvec[q].tolist()], using="sentences"),
                    filter=qe.Filter(must=[qe.HasIdCondition(set(pool))]),
                    params=qe.SearchParams(exact=True),
                )
            )
            timings["store"].append(time.perf_counter() - started)
            started = time.perf_counter()
            sims = np.concatenate([per_doc[r] for r in pool]) @ qvec[q]
            cuts = np.cumsum([len(per_doc[r]) for r in pool])[:-1]
            mine = [float(part.max()) for part in np.split(sims, cuts)]
            timings["numpy"].append(time.perf_counter() - started)
            scored = {int(p.id): float(p.score) for p in found}
            if len(scored) != len(pool) or any(
                abs(scored[r] - m) > 1e-3 for r, m in zip(pool, mine, strict=True)
            ):
                raise RuntimeError(f"the store's MaxSim differs from numpy's for question {q}")
            head = sorted(zip([str(r) for r in pool], mine, strict=True), key=lambda kv: -kv[1])
            started = time.perf_counter()
            z_score_fusion([dense[q], sparse[q], head], [1.0, 1.0, 1.0])
            timings["fuse3"].append(time.perf_counter() - started)
            started = time.perf_counter()
            z_score_fusion([dense[q], sparse[q]], [1.0, 1.0])
            timings["fuse2"].append(time.perf_counter() - started)
        shard.close()
    return {
        name: {
            "p50_ms": round(float(np.percentile(values, 50)) * 1000, 3),
            "p95_ms": round(float(np.percentile(values, 95)) * 1000, 3),
        }
        for name, values in timings.items()
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="BEIR-layout folder")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--only", default="", help="groups: fusion,bm25,rm3,dense,sentences")
    parser.add_argument("--skip-embedding", action="store_true", help="no corpus re-embedding")
    parser.add_argument(
        "--latency",
        action="store_true",
        help="sentences group: time the added step per question (Qdrant Edge MaxSim query)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    rows = sweep(parse_args(argv))
    if parse_args(argv).json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
