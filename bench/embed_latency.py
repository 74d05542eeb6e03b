"""Question-embedding latency of the offline embedders: p50 and p95 over 100 short questions.

    python bench/embed_latency.py [--embedders onnx-minilm,bge-small] [--questions 100]
                                  [--rounds 1] [--json]

Each embedder is built by the product's factory from default settings (`RAGOPS_EMBEDDER`
set to its name), loaded and warmed with 5 questions, then asked the first `--questions`
distinct questions of `bench/data/cache_questions.json` one at a time through
`embed_query` (the path a chat request takes: the `cpu` worker pool, one model run),
`--rounds` times, the embedders taking turns round by round so that a change in the
machine's load falls on both. Times are wall-clock milliseconds of each call. The load
average is printed before and after. Writes bench/results/embed_latency.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "bench" / "data" / "cache_questions.json"


def questions(count: int) -> list[str]:
    """The first `count` distinct questions of the cache question file, in file order."""
    seen: dict[str, None] = {}
    for group in json.loads(QUESTIONS.read_text(encoding="utf-8")):
        for side in group:
            for text in side:
                seen.setdefault(text, None)
    texts = list(seen)[:count]
    if len(texts) < count:
        raise SystemExit(f"only {len(texts)} questions in {QUESTIONS.name}")
    return texts


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from ragops.config.settings import Settings
    from ragops.providers.embedder.factory import create_embedder

    texts = questions(args.questions)
    names = [name.strip() for name in args.embedders.split(",") if name.strip()]
    embedders = {}
    loads: dict[str, float] = {}
    for name in names:
        embedder: Any = create_embedder(Settings(_env_file=None, embedder=name))  # type: ignore[call-arg]
        started = time.perf_counter()
        for text in texts[:5]:
            await embedder.embed_query(text)
        loads[name] = round(time.perf_counter() - started, 2)
        embedders[name] = embedder
    load_before = [round(x, 2) for x in os.getloadavg()]
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.rounds):
        for name, embedder in embedders.items():
            for text in texts:
                started = time.perf_counter()
                await embedder.embed_query(text)
                times[name].append((time.perf_counter() - started) * 1000)
    load_after = [round(x, 2) for x in os.getloadavg()]
    rows = []
    for name, embedder in embedders.items():
        values = times[name]
        rows.append(
            {
                "embedder": name,
                "model_id": embedder.model_id,
                "calls": len(values),
                "p50_ms": round(statistics.median(values), 2),
                "p95_ms": round(percentile(values, 0.95), 2),
                "mean_ms": round(statistics.fmean(values), 2),
                "max_ms": round(max(values), 2),
                "first_5_s": loads[name],
            }
        )
        await embedder.aclose()
    mean_words = statistics.fmean(len(t.split()) for t in texts)
    return {
        "questions": len(texts),
        "mean_words": round(mean_words, 1),
        "rounds": args.rounds,
        "cpus": len(os.sched_getaffinity(0)),
        "load_before": load_before,
        "load_after": load_after,
        "rows": rows,
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedders", default="onnx-minilm,bge-small")
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    result = asyncio.run(run(args))
    out = ROOT / "bench" / "results" / "embed_latency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{result['questions']} questions ({result['mean_words']} words on average), "
        f"{result['rounds']} round(s), {result['cpus']} CPUs, load average "
        f"{result['load_before']} before, {result['load_after']} after"
    )
    print(f"{'embedder':<12} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8} {'max ms':>8}")
    for row in result["rows"]:
        print(
            f"{row['embedder']:<12} {row['p50_ms']:>8} {row['p95_ms']:>8} "
            f"{row['mean_ms']:>8} {row['max_ms']:>8}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
