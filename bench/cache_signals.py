"""Signals beyond the single cosine for the semantic cache, measured on both halves of the
bundled labelled set (`bench/data/cache_questions.json`, split as in `bench/cache.py`).

    python bench/cache_signals.py [--json]

For every pair of `bench/cache.py`'s pair procedure (a question and its family's cached
anchor) it computes, with the bundled embedder:
- `cosine`: the questions' embedding cosine (what the cache uses today);
- `align_worst` / `align_mean`: content-word alignment. Each content word (stopwords
  dropped) is matched to its best word on the other side: 1 when the stems agree, else the
  cosine of the embedder's static word-piece embeddings (the model's input table, centred on
  its mean: uncentred, every pair of words scores above 0.99). The worst word's score, and
  the mean over both sides;
- `content_cosine`: the embedding cosine of the two questions with their stopwords
  ("how do I", "what is") removed;
- `diff_cosine`: the embedding cosine of the two questions' differing content words only;
- `context_f1`: BERTScore-style alignment of the model's contextual token states (the
  `last_hidden_state` the embedder pools), content word pieces only, greedy F1;
- `overlap`: the Jaccard overlap of the content stems (the lexical guards already refuse the
  look-alikes one word apart, so what they let through is tested here).
For each signal it prints the ranking quality (AUC: the chance that a same-meaning pair
scores above a near-miss) on all pairs, on the pairs the lexical guards let through, and on
those of them at cosine 0.70 or more (where the threshold is chosen), and blends of the cosine
with each signal. Then, for the guards' `swapped_word` refusals, the static similarity of the
two swapped words against the pair's label: could word similarity let true synonyms through?

`--calibrate` then treats each blend `w * cosine + (1 - w) * signal` (w = 0.5, 0.8) as the
cache's score and calibrates it as `bench/cache.py --calibrate` does the cosine: candidates
ranked by cosine (top 5), guards on, on the tuning half the least score threshold from which
on the one-sided 90 % Clopper-Pearson bound of the wrong-hit rate stays within 1 %; the blend
with the most tuning right hits is the one a calibration would pick, and the held-out half's
figures at its threshold say whether it generalises.

Agreement of the two questions' retrieved passages is not measured: the cache is consulted
before retrieval (a hit skips it), so it would cost a retrieval on every hit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cache import DATA, embed_all, pairs_from, split  # noqa: E402

_WORD = re.compile(r"[\w'’-]+", re.UNICODE)


def static_table() -> tuple[Any, np.ndarray]:
    """The MiniLM tokenizer (no padding) and its word-piece embedding table, centred."""
    import onnx
    from onnx import numpy_helper
    from tokenizers import Tokenizer

    from ragops.providers.embedder.onnx_minilm import default_model_path, default_tokenizer_path

    model = onnx.load(str(default_model_path()))
    tensors = {t.name: t for t in model.graph.initializer}
    prefix = "inner.embeddings.word_embeddings.weight"
    weights = numpy_helper.to_array(tensors[f"{prefix}_q"]).astype(np.float32)
    weights *= numpy_helper.to_array(tensors[f"{prefix}_scale"]).astype(np.float32)
    weights -= weights.mean(axis=0)
    tokenizer = Tokenizer.from_file(str(default_tokenizer_path()))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer, weights


class Words:
    """Content words, stems and static word vectors."""

    def __init__(self) -> None:
        from ragops.retrieval.sparse import STOPWORDS, analyze

        self.stopwords = STOPWORDS
        self.analyze = analyze
        self.tokenizer, self.table = static_table()
        from ragops.providers.embedder.onnx_minilm import OnnxMiniLMEmbedder

        self.model = OnnxMiniLMEmbedder()
        self._states: dict[str, np.ndarray] = {}

    def content(self, text: str) -> list[str]:
        return [w for w in _WORD.findall(text.casefold()) if w not in self.stopwords]

    def stem(self, word: str) -> str:
        stems = self.analyze(word)
        return stems[0] if stems else word

    def vector(self, word: str) -> np.ndarray:
        ids = self.tokenizer.encode(word, add_special_tokens=False).ids
        v = self.table[ids].mean(axis=0)
        return np.asarray(v / (np.linalg.norm(v) or 1.0))

    def align(self, one: str, other: str) -> tuple[float, float]:
        a, b = self.content(one), self.content(other)
        if not a or not b:
            return 1.0, 1.0
        scores = np.stack([self.vector(w) for w in a]) @ np.stack([self.vector(w) for w in b]).T
        for i, x in enumerate(a):
            for j, y in enumerate(b):
                if self.stem(x) == self.stem(y):
                    scores[i, j] = 1.0
        rows, cols = scores.max(axis=1), scores.max(axis=0)
        return float(min(rows.min(), cols.min())), float((rows.mean() + cols.mean()) / 2)

    def context(self, text: str) -> np.ndarray:
        """Unit contextual states of the content word pieces of `text`."""
        found = self._states.get(text)
        if found is not None:
            return found
        tokenizer, session = self.model.load()
        encoding = tokenizer.encode(text)
        ids = np.array([encoding.ids], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if "token_type_ids" in {i.name for i in session.get_inputs()}:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = np.asarray(session.run(None, feeds)[0][0], dtype=np.float32)
        keep = [
            i
            for i, piece in enumerate(encoding.tokens)
            if piece not in ("[CLS]", "[SEP]")
            and piece.strip("#").isalnum()
            and piece not in self.stopwords
        ] or list(range(1, len(encoding.tokens) - 1))
        states: np.ndarray = hidden[keep] / np.linalg.norm(hidden[keep], axis=1, keepdims=True)
        self._states[text] = states
        return states

    def context_f1(self, one: str, other: str) -> float:
        scores = self.context(one) @ self.context(other).T
        recall, precision = float(scores.max(axis=1).mean()), float(scores.max(axis=0).mean())
        return 2 * recall * precision / (recall + precision)

    def overlap(self, one: str, other: str) -> float:
        """The Jaccard overlap of the two questions' content stems."""
        a = {self.stem(w) for w in self.content(one)}
        b = {self.stem(w) for w in self.content(other)}
        return len(a & b) / len(a | b) if a | b else 1.0

    def differing(self, one: str, other: str) -> tuple[str, str]:
        a, b = self.content(one), self.content(other)
        sa, sb = {self.stem(w) for w in a}, {self.stem(w) for w in b}
        return (
            " ".join(w for w in a if self.stem(w) not in sb),
            " ".join(w for w in b if self.stem(w) not in sa),
        )


def auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """P(a same-meaning pair scores above a near-miss), ties counting half."""
    pos, neg = scores[labels], scores[~labels]
    if not len(pos) or not len(neg):
        return None
    above = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    return round(float(above), 3)


SIGNALS = (
    "cosine",
    "align_worst",
    "align_mean",
    "content_cosine",
    "diff_cosine",
    "context_f1",
    "overlap",
)


def measure(families: list[list[list[str]]], *, calibrate: bool = False) -> dict[str, Any]:
    from ragops.cache.matching import guard

    words = Words()
    halves = dict(zip(("tuning", "holdout"), split(families), strict=True))
    pairs = {name: pairs_from(part) for name, part in halves.items()}
    texts = {t for f in families for i in f for t in i}
    for part in pairs.values():
        for p in part:
            texts.update(words.differing(p["question"], p["candidate"]))
            texts.add(" ".join(words.content(p["question"])))
            texts.add(" ".join(words.content(p["candidate"])))
    texts.discard("")
    vectors = asyncio.run(embed_all(sorted(texts)))

    def cos(a: str, b: str) -> float:
        for text in (a, b):
            if text not in vectors:
                vectors[text] = words.model.embed_sync([text])[0]
        return float(vectors[a] @ vectors[b])

    def signal_of(k: int, q: str, c: str) -> float:
        if k in (1, 2):
            return words.align(q, c)[k - 1]
        if k == 3:
            ca, cb = " ".join(words.content(q)), " ".join(words.content(c))
            return cos(ca, cb) if ca and cb else cos(q, c)
        if k == 4:
            da, db = words.differing(q, c)
            return 1.0 if not da and not db else (cos(da, db) if da and db else 0.0)
        if k == 5:
            return words.context_f1(q, c)
        return words.overlap(q, c)

    report: dict[str, Any] = {}
    for name, part in pairs.items():
        rows, passed, swaps = [], [], []
        for p in part:
            q, c = p["question"], p["candidate"]
            worst, mean = words.align(q, c)
            da, db = words.differing(q, c)
            diff = 1.0 if not da and not db else (cos(da, db) if da and db else 0.0)
            ca, cb = " ".join(words.content(q)), " ".join(words.content(c))
            content = cos(ca, cb) if ca and cb else cos(q, c)
            rows.append(
                [cos(q, c), worst, mean, content, diff, words.context_f1(q, c), words.overlap(q, c)]
            )
            verdict = guard(q, c)
            passed.append(verdict.ok)
            if verdict.reason == "swapped_word":
                x, y = words.differing(q, c)
                if x and y:
                    sim = float(words.vector(x) @ words.vector(y))
                    swaps.append((round(sim, 2), p["same_meaning"], x, y))
        matrix = np.array(rows)
        labels = np.array([p["same_meaning"] for p in part])
        ok = np.array(passed)
        high = ok & (matrix[:, 0] >= 0.70)
        half: dict[str, Any] = {"pairs": len(part), "guard_passing": int(ok.sum())}
        for k, signal in enumerate(SIGNALS):
            half[signal] = {
                "all": auc(labels, matrix[:, k]),
                "guarded": auc(labels[ok], matrix[ok, k]),
                "guarded_cos_0.70": auc(labels[high], matrix[high, k]),
            }
        for k, signal in enumerate(SIGNALS[1:], start=1):
            for weight in (0.5, 0.8):
                blend = weight * matrix[:, 0] + (1 - weight) * matrix[:, k]
                half[f"{weight}*cosine+{1 - weight:.1f}*{signal}"] = {
                    "guarded": auc(labels[ok], blend[ok]),
                    "guarded_cos_0.70": auc(labels[high], blend[high]),
                }
        swaps.sort(reverse=True)
        sims = np.array([s[0] for s in swaps])
        same = np.array([s[1] for s in swaps], dtype=bool)
        half["swapped_word"] = {
            "refused": len(swaps),
            "same_meaning": int(same.sum()),
            "word_similarity_auc": auc(same, sims) if len(swaps) else None,
            "top": swaps[:8],
        }
        report[name] = half
    if calibrate:
        report["calibration"] = calibrate_blends(pairs, cos, signal_of)
    return report


def blend_pairs(
    pairs: list[dict[str, Any]], cos: Any, score: Any, threshold: float
) -> dict[str, Any]:
    """`bench/cache.py`'s pair procedure with `score(question, candidate)` in place of the
    cosine for the decision (candidates still ranked by cosine, guards on)."""
    from ragops.cache.keys import normalise
    from ragops.cache.matching import guard
    from ragops.cache.semantic import CANDIDATES

    candidates = sorted({p["candidate"] for p in pairs})
    exact = {normalise(c): c for c in candidates}
    right = wrong = 0
    for pair in pairs:
        question = pair["question"]
        hit = exact.get(normalise(question))
        if hit is None:
            ranked = sorted(candidates, key=lambda c: -cos(question, c))[:CANDIDATES]
            hit = next(
                (c for c in ranked if score(question, c) >= threshold and guard(question, c).ok),
                None,
            )
        if hit is None:
            continue
        if pair["same_meaning"] and normalise(hit) == normalise(pair["candidate"]):
            right += 1
        else:
            wrong += 1
    same = sum(1 for p in pairs if p["same_meaning"])
    return {
        "right_hit_rate": round(right / same, 4),
        "wrong_hit_rate": round(wrong / len(pairs), 4),
        "wrong_hits": wrong,
        "lookups": len(pairs),
    }


def calibrate_blends(pairs: dict[str, Any], cos: Any, signal: Any) -> list[dict[str, Any]]:
    """Each blend calibrated on the tuning half under the 1 % bound, checked held out."""
    from cache import upper_bound

    grid = [round(float(t), 2) for t in np.arange(0.50, 1.0001, 0.01)]
    found = []
    blends: list[tuple[str, Any]] = [("cosine", cos)]
    for k, name in enumerate(SIGNALS[1:], start=1):
        for weight in (0.5, 0.8):

            def score(q: str, c: str, k: int = k, w: float = weight) -> float:
                return float(w * cos(q, c) + (1 - w) * signal(k, q, c))

            blends.append((f"{weight}*cosine+{1 - weight:.1f}*{name}", score))
    for name, score in blends:
        threshold = 1.01
        for t in reversed(grid):
            row = blend_pairs(pairs["tuning"], cos, score, t)
            if upper_bound(row["wrong_hits"], row["lookups"]) > 0.01:
                break
            threshold = t
        tune = blend_pairs(pairs["tuning"], cos, score, threshold)
        held = blend_pairs(pairs["holdout"], cos, score, threshold)
        found.append({"score": name, "threshold": threshold, "tuning": tune, "holdout": held})
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument(
        "--calibrate", action="store_true", help="calibrate each blend (1 %% bound)"
    )
    args = parser.parse_args()
    report = measure(json.loads(DATA.read_text(encoding="utf-8")), calibrate=args.calibrate)
    if args.json:
        print(json.dumps(report))
        return
    print("AUC (same-meaning pair above near-miss): all pairs / guard-passing / guard-passing")
    print("at cosine >= 0.70")
    for name in ("tuning", "holdout"):
        half = report[name]
        print(f"\n{name}: {half['pairs']} pairs, {half['guard_passing']} pass the guards")
        for key, value in half.items():
            if isinstance(value, dict) and "guarded" in value:
                cells = " / ".join(
                    "-" if value.get(k) is None else f"{value[k]:.3f}"
                    for k in ("all", "guarded", "guarded_cos_0.70")
                    if k in value
                )
                print(f"  {key:<34} {cells}")
        swap = half["swapped_word"]
        print(
            f"  swapped_word refusals {swap['refused']} ({swap['same_meaning']} same-meaning);"
            f" word-similarity AUC {swap['word_similarity_auc']}; most similar:"
        )
        for sim, same, x, y in swap["top"]:
            print(f"    {sim:>5.2f} {'same' if same else 'near-miss':<9} {x} / {y}")
    if "calibration" in report:
        print("\ncalibrated at max error 1 % on the tuning half (right % of same-meaning,")
        print("wrong % of lookups):")
        for row in report["calibration"]:
            tune, held = row["tuning"], row["holdout"]
            print(
                f"  {row['score']:<34} {row['threshold']:>5.2f}"
                f"  tuning {100 * tune['right_hit_rate']:5.1f}"
                f" {100 * tune['wrong_hit_rate']:5.2f}"
                f"  held-out {100 * held['right_hit_rate']:5.1f}"
                f" {100 * held['wrong_hit_rate']:5.2f}"
            )


if __name__ == "__main__":
    main()
