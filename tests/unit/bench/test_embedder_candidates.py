"""`bench/embedder_candidates.py`: the floor carried over to another embedder by percentile,
the off-topic questions it is read from, and corpus vectors kept in slices so a stopped run
resumes and a shorter cut reuses the texts a longer one embedded whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.unit.bench import load_bench

candidates = load_bench("embedder_candidates")


def test_options_and_defaults() -> None:
    args = candidates.parse_args(["--dataset", "d", "--model-dir", "m", "--doc-max", "512", "256"])
    assert args.doc_max == [512, 256] and args.threads == 2 and args.weights == []
    assert candidates.FLOOR == 0.25  # the product's default floor, replayed for MiniLM
    assert candidates.BGE_PREFIX.endswith("passages: ")


def test_equivalent_floor_is_the_same_percentile() -> None:
    base = np.linspace(0.0, 1.0, 101)  # 25 of 101 values under 0.25
    shifted = base * 0.5 + 0.4  # a model whose cosines sit higher
    floor, share = candidates.equivalent_floor(0.25, base, shifted)
    assert share == round(100 * 25 / 101, 2)
    assert abs(floor - float(np.quantile(shifted, 25 / 101))) < 1e-4
    assert 0.5 < floor < 0.53


def test_off_domain_questions_are_the_scope_set() -> None:
    questions = candidates.off_domain_questions()
    assert len(questions) >= 40 and all(q.strip() for q in questions)


class Counting:
    """A stand-in encoder (not a model): a text's vector is one-hot on its length, so slices
    and copied rows can be checked; it counts the texts it embeds."""

    def __init__(self, cut: int) -> None:
        self.cut, self.seen = cut, 0

    def lengths(self, texts: list[str]) -> list[int]:
        return [min(len(t), self.cut) for t in texts]

    def embed(self, texts: list[str]) -> np.ndarray:
        self.seen += len(texts)
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row, min(len(text), self.cut)] = 1.0
        return out


def test_corpus_vectors_resume_from_slices_and_reuse_rows(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(candidates, "SLICE", 4)
    texts = ["x" * n for n in (3, 9, 1, 7, 5, 12, 2, 8, 4, 10)]
    model = Counting(cut=100)
    vectors, stats = candidates.corpus_vectors(model, texts, "t", 2, tmp_path)
    assert model.seen == len(texts) and stats["texts"] == len(texts)
    assert [int(np.argmax(v)) for v in vectors] == [len(t) for t in texts]
    assert list(tmp_path.glob("t-*-slice*.npy")) == []  # slices folded into one file
    again = Counting(cut=100)
    cached, stats = candidates.corpus_vectors(again, texts, "t", 2, tmp_path)
    assert again.seen == 0 and stats == {} and np.array_equal(cached, vectors)

    short = Counting(cut=6)
    known = {i: vectors[i] for i, n in enumerate(short.lengths(texts)) if n < 6}
    cut, _ = candidates.corpus_vectors(short, texts, "u", 2, tmp_path, known)
    assert short.seen == len(texts) - len(known)
    assert [int(np.argmax(v)) for v in cut] == [min(len(t), 6) for t in texts]


def test_a_stopped_run_resumes_at_its_next_slice(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(candidates, "SLICE", 3)
    texts = ["y" * n for n in range(1, 10)]
    first = Counting(cut=100)
    full, _ = candidates.corpus_vectors(first, texts, "r", 3, tmp_path)
    whole = next(tmp_path.glob("r-*.npy"))
    key = whole.stem
    whole.unlink()
    np.save(tmp_path / f"{key}-slice000.npy", full[:3])  # shortest three, as the run orders
    np.save(tmp_path / f"{key}-slice001.npy", full[3:6])
    resumed = Counting(cut=100)
    vectors, stats = candidates.corpus_vectors(resumed, texts, "r", 3, tmp_path)
    assert resumed.seen == 3 and stats["texts"] == 3
    assert np.array_equal(vectors, full)
