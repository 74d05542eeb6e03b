"""Semantic answer cache benchmark: hit and wrong-hit rates with the product's own embedder
and matching rules (`ragops.cache.matching.choose`, as `SemanticCache.find` uses them).

    python bench/cache.py [--json] [--max-error 0.01] [--threshold T] [--no-guards]
    python bench/cache.py --pairs FILE [--json]      # a list of {question, candidate, same_meaning}
                                                     # or a published paraphrase table (Quora
                                                     # Question Pairs, PAWS, MRPC, STS-B:
                                                     # bench/pair_files.py); --rows 0:786
                                                     # slices it, --half tune|held keeps one
                                                     # half by a fixed hash of each pair
    python bench/cache.py --calibrate [--json]       # thresholds from the tuning half, checked
                                                     # on the held-out half
    python bench/cache.py --calibrate --pairs FILE   # the same, the pair file's even rows added
                                                     # to the tuning half, its odd rows held out

The bundled set (`bench/data/cache_questions.json`) is a list of families; a family is a list
of intents that read alike but mean different things (near-misses); an intent is a list of
paraphrases. Families alternate between a tuning half (even positions, used to choose the
calibration and guards) and a held-out half (odd positions), and both are reported.

Calibration: for each tolerated wrong-hit rate, the least threshold from which on the
one-sided 90 % Clopper-Pearson upper bound of the tuning half's wrong-hit rate (wrong hits
over lookups) stays within it; then the held-out half's figures at that threshold, which
say whether the bound held on questions the calibration never saw. With `--pairs FILE`, a
labelled pair set of another domain joins both halves (even rows tuning, odd rows held out;
each half's pairs are looked up among their own candidates, as `--pairs` alone does), and
the wrong hits and lookups of both sets are added up for the bound.

Pairs procedure (as for any `--pairs` file): every candidate is cached first, then every
question is looked up (exact normalised text first, then semantic). A hit on its own pair's
candidate (or an identical text) is right when `same_meaning`, and a hit on the question's
own text (cached as another pair's candidate) is always right; any other hit is wrong, even
on another pair's candidate that means the same.
Stream procedure: a Zipf-distributed stream over the intents (s = 1.1, seeded), each asking
a random paraphrase; a miss caches the question; a hit on another intent is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "cache_questions.json"
RESULTS = HERE / "results"


def pairs_from(families: list[list[list[str]]]) -> list[dict[str, Any]]:
    """Pairs in which every question's only cached look-alike is its own pair's candidate
    (as in a public pair set, where pairs are independent): in each family one intent is the
    anchor; its first phrasing is the candidate of its other phrasings (same meaning) and of
    every phrasing of the family's other intents (near-misses)."""
    pairs: list[dict[str, Any]] = []
    for number, family in enumerate(families):
        anchor = family[number % len(family)]
        candidate = anchor[0]
        for question in anchor[1:]:
            pairs.append({"question": question, "candidate": candidate, "same_meaning": True})
        for intent in family:
            if intent is anchor:
                continue
            for question in intent:
                pairs.append({"question": question, "candidate": candidate, "same_meaning": False})
    return pairs


async def embed_all(texts: list[str]) -> dict[str, np.ndarray]:
    from ragops.config import Settings
    from ragops.providers.embedder.factory import create_embedder

    embedder = create_embedder(Settings(_env_file=None))  # type: ignore[call-arg]
    try:
        unique = sorted(set(texts))
        vectors = {t: np.asarray(await embedder.embed_query(t), dtype=np.float32) for t in unique}
    finally:
        await embedder.aclose()
    return vectors


def run_pairs(
    pairs: list[dict[str, Any]], vectors: dict[str, np.ndarray], threshold: float, guards: bool
) -> dict[str, Any]:
    from ragops.cache.keys import normalise
    from ragops.cache.matching import choose
    from ragops.cache.semantic import CANDIDATES

    candidates = sorted({p["candidate"] for p in pairs})
    exact = {normalise(c): c for c in candidates}
    matrix = np.stack([vectors[c] for c in candidates])
    right = wrong = misses = 0
    for pair in pairs:
        question, own = pair["question"], pair["candidate"]
        hit = exact.get(normalise(question))
        if hit is None:
            scores = matrix @ vectors[question]
            order = np.argsort(-scores)[:CANDIDATES]
            ranked = [(float(scores[i]), candidates[i]) for i in order]
            chosen = choose(question, ranked, threshold, guards=guards)
            hit = None if chosen is None else ranked[chosen][1]
        if hit is None:
            misses += 1
        elif normalise(hit) == normalise(question):
            right += 1  # the question itself is cached (as another pair's candidate)
        elif pair["same_meaning"] and normalise(hit) == normalise(own):
            right += 1
        else:
            wrong += 1
    same = sum(1 for p in pairs if p["same_meaning"])
    return {
        "pairs": len(pairs),
        "same_meaning_pairs": same,
        "right_hits": right,
        "wrong_hits": wrong,
        "misses": misses,
        "right_hit_rate": round(right / same, 4) if same else None,
        "wrong_hit_rate": round(wrong / len(pairs), 4) if pairs else None,
        "threshold": threshold,
        "guards": guards,
    }


def run_stream(
    families: list[list[list[str]]],
    vectors: dict[str, np.ndarray],
    threshold: float,
    guards: bool,
    lookups: int = 2000,
    seed: int = 7,
) -> dict[str, Any]:
    from ragops.cache.keys import normalise
    from ragops.cache.matching import choose
    from ragops.cache.semantic import CANDIDATES

    intents = [intent for family in families for intent in family]
    rng = random.Random(seed)
    order = list(range(len(intents)))
    rng.shuffle(order)
    weights = [1 / (rank + 1) ** 1.1 for rank in range(len(intents))]
    cached: list[tuple[str, int]] = []
    exact: dict[str, int] = {}
    counts = {"exact": 0, "semantic_right": 0, "semantic_wrong": 0, "miss": 0}
    for _ in range(lookups):
        intent = order[rng.choices(range(len(intents)), weights)[0]]
        question = rng.choice(intents[intent])
        if normalise(question) in exact:
            counts["exact"] += 1
            continue
        chosen = None
        if cached:
            matrix = np.stack([vectors[t] for t, _ in cached])
            scores = matrix @ vectors[question]
            top = np.argsort(-scores)[:CANDIDATES]
            ranked = [(float(scores[i]), cached[i][0]) for i in top]
            pick = choose(question, ranked, threshold, guards=guards)
            chosen = None if pick is None else cached[int(top[pick])][1]
        if chosen is None:
            counts["miss"] += 1
            cached.append((question, intent))
            exact[normalise(question)] = intent
        elif chosen == intent:
            counts["semantic_right"] += 1
        else:
            counts["semantic_wrong"] += 1
    hits = counts["exact"] + counts["semantic_right"] + counts["semantic_wrong"]
    return {
        "lookups": lookups,
        **counts,
        "hit_rate": round(hits / lookups, 4),
        "semantic_hit_rate": round(
            (counts["semantic_right"] + counts["semantic_wrong"]) / lookups, 4
        ),
        "wrong_hit_rate": round(counts["semantic_wrong"] / lookups, 4),
    }


def split(families: list[list[list[str]]]) -> tuple[list[Any], list[Any]]:
    return families[0::2], families[1::2]


LEVELS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.1)
CONFIDENCE = 0.9
OFF = 1.01  # above any cosine: no semantic hit


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def upper_bound(wrong: int, n: int, confidence: float = CONFIDENCE) -> float:
    """One-sided Clopper-Pearson upper bound of a rate seen as `wrong` in `n`: the true
    rate is below it with probability `confidence`."""
    if n == 0 or wrong >= n:
        return 1.0
    low, high = wrong / n, 1.0
    for _ in range(60):
        middle = (low + high) / 2
        if binomial_cdf(wrong, n, middle) > 1 - confidence:
            low = middle
        else:
            high = middle
    return high


def run_sets(
    sets: list[list[dict[str, Any]]], vectors: dict[str, np.ndarray], threshold: float
) -> dict[str, Any]:
    """`run_pairs` on each set (each looked up among its own candidates), added up."""
    results = [run_pairs(pairs, vectors, threshold, True) for pairs in sets]
    total = {k: sum(r[k] for r in results) for k in ("pairs", "same_meaning_pairs")}
    total.update({k: sum(r[k] for r in results) for k in ("right_hits", "wrong_hits", "misses")})
    same, pairs = total["same_meaning_pairs"], total["pairs"]
    total["right_hit_rate"] = round(total["right_hits"] / same, 4) if same else None
    total["wrong_hit_rate"] = round(total["wrong_hits"] / pairs, 4) if pairs else None
    total["wrong_upper_bound"] = round(upper_bound(total["wrong_hits"], pairs), 4)
    total["threshold"] = threshold
    total["sets"] = results
    return total


def calibrate(
    families: list[list[list[str]]],
    vectors: dict[str, np.ndarray],
    extra: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Sweep thresholds on the tuning half (and the even rows of `extra`); for each tolerated
    error, the least threshold from which on every threshold's wrong-hit rate has its upper
    confidence bound within it (OFF when none), then the held-out figures at that threshold
    (the held-out half, and the odd rows of `extra`)."""
    tuning, holdout = split(families)
    tune_sets, hold_sets = [pairs_from(tuning)], [pairs_from(holdout)]
    if extra:
        tune_sets.append(extra[0::2])
        hold_sets.append(extra[1::2])
    grid = [round(float(t), 2) for t in np.arange(0.70, 1.0001, 0.01)]
    rows = [run_sets(tune_sets, vectors, threshold) for threshold in grid]
    chosen: list[dict[str, Any]] = []
    for level in LEVELS:
        threshold = OFF
        for row in reversed(rows):
            if row["wrong_upper_bound"] > level:
                break
            threshold = row["threshold"]
        tune = run_sets(tune_sets, vectors, threshold)
        held = run_sets(hold_sets, vectors, threshold)
        chosen.append({"max_error": level, "threshold": threshold, "tuning": tune, "holdout": held})
    return {"confidence": CONFIDENCE, "sweep": rows, "calibration": chosen}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--pairs",
        type=Path,
        help="JSON list of {question, candidate, same_meaning}, or a .tsv/.csv/.txt table as"
        " published: Quora Question Pairs, PAWS, MRPC or STS-B (see bench/pair_files.py);"
        " with --calibrate, extra data",
    )
    parser.add_argument("--rows", help="START:END: a slice of the pair file, in file order")
    parser.add_argument(
        "--half",
        choices=("tune", "held"),
        help="keep one half of the pair file, by a fixed hash of each pair's texts",
    )
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument(
        "--max-error", type=float, default=None, help="RAGOPS_SEMANTIC_CACHE_MAX_ERROR"
    )
    parser.add_argument("--threshold", type=float, default=None, help="override the threshold")
    parser.add_argument("--no-guards", action="store_true", help="similarity alone")
    parser.add_argument("--calibrate", action="store_true", help="sweep thresholds (tuning half)")
    args = parser.parse_args()

    from ragops.cache.matching import threshold_for
    from ragops.config import Settings

    max_error = args.max_error
    if max_error is None:
        max_error = Settings(_env_file=None).semantic_cache_max_error  # type: ignore[call-arg]
    threshold = args.threshold if args.threshold is not None else threshold_for(max_error)
    guards = not args.no_guards
    started = time.perf_counter()

    pairs: list[dict[str, Any]] = []
    if args.pairs is not None:
        from pair_files import PairFileError, load

        try:
            pairs = load(args.pairs, args.rows, args.half)
        except PairFileError as exc:
            sys.exit(
                f"error: {args.pairs} is not a JSON list of question/candidate/same_meaning"
                f" nor a paraphrase table (question1/question2/is_duplicate, sentence1/"
                f"sentence2/label or score, #1 String/#2 String/Quality): {exc}"
            )
    if args.pairs is not None and not args.calibrate:
        vectors = asyncio.run(
            embed_all([p["question"] for p in pairs] + [p["candidate"] for p in pairs])
        )
        result = run_pairs(pairs, vectors, threshold, guards)
        if args.json:
            print(
                json.dumps(
                    {
                        k: result[k]
                        for k in ("pairs", "right_hits", "wrong_hits", "misses", "threshold")
                    }
                )
            )
        else:
            print(json.dumps(result, indent=1))
        return

    families = json.loads(DATA.read_text(encoding="utf-8"))
    texts = [t for family in families for intent in family for t in intent]
    texts += [p["question"] for p in pairs] + [p["candidate"] for p in pairs]
    vectors = asyncio.run(embed_all(texts))
    if args.calibrate:
        found = calibrate(families, vectors, pairs)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "cache_calibration.json").write_text(json.dumps(found, indent=1))
        if args.json:
            print(json.dumps(found))
            return
        print(f"tuning half, guards on; upper bound: one-sided {CONFIDENCE:.0%} Clopper-Pearson")
        print(f"{'thr':>5} {'right%':>7} {'wrong%':>7} {'bound%':>7}")
        for row in found["sweep"]:
            print(
                f"{row['threshold']:>5.2f} {100 * row['right_hit_rate']:>7.1f}"
                f" {100 * row['wrong_hit_rate']:>7.2f} {100 * row['wrong_upper_bound']:>7.2f}"
            )
        print("\nCALIBRATION (max error -> threshold), with tuning and held-out figures:")
        for entry in found["calibration"]:
            tune, held = entry["tuning"], entry["holdout"]
            print(
                f"  ({entry['max_error']}, {entry['threshold']}),  # tuning right"
                f" {100 * tune['right_hit_rate']:.1f} % wrong {100 * tune['wrong_hit_rate']:.2f} %;"
                f" held-out right {100 * held['right_hit_rate']:.1f} %"
                f" wrong {100 * held['wrong_hit_rate']:.2f} %"
                + "".join(
                    f"; held-out set {n}: right {100 * (r['right_hit_rate'] or 0):.1f} %"
                    f" wrong {100 * r['wrong_hit_rate']:.2f} %"
                    for n, r in enumerate(held["sets"], 1)
                    if len(held["sets"]) > 1
                )
            )
        return
    tuning, holdout = split(families)
    report: dict[str, Any] = {"threshold": threshold, "guards": guards, "max_error": max_error}
    for name, part in (("tuning", tuning), ("holdout", holdout)):
        report[name] = {
            "pairs": run_pairs(pairs_from(part), vectors, threshold, guards),
            "stream": run_stream(part, vectors, threshold, guards),
        }
        pairs_result = report[name]["pairs"]
        pairs_result["wrong_upper_bound"] = round(
            upper_bound(pairs_result["wrong_hits"], pairs_result["pairs"]), 4
        )
    report["seconds"] = round(time.perf_counter() - started, 1)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cache.json").write_text(json.dumps(report, indent=1))
    if args.json:
        print(json.dumps(report))
        return
    print(f"threshold {threshold} (max error {max_error}), guards {'on' if guards else 'off'}")
    print(
        f"{'half':<8} {'pairs':>6} {'right % of same':>16} {'wrong % of lookups':>19}"
        f" {'(90 % bound)':>13} {'stream hit %':>13} {'stream wrong %':>15}"
    )
    for name in ("tuning", "holdout"):
        p, s = report[name]["pairs"], report[name]["stream"]
        print(
            f"{name:<8} {p['pairs']:>6} {100 * p['right_hit_rate']:>16.1f}"
            f" {100 * p['wrong_hit_rate']:>19.2f} {100 * p['wrong_upper_bound']:>13.2f}"
            f" {100 * s['hit_rate']:>13.1f} {100 * s['wrong_hit_rate']:>15.2f}"
        )


if __name__ == "__main__":
    main()
