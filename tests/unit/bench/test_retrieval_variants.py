"""The in-memory replay behind `bench/retrieval_variants.py` (`bench/variant_replay.py`): its
BM25 (and BM25L) scores are the product encoder's weights times the stores' IDF, RM3 keeps the
question's terms and adds the feedback documents' heaviest ones, the fusion variants rank as
documented, and long texts are cut into windows and pooled."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ragops.retrieval.sparse import Bm25Encoder
from tests.unit.bench import load_bench

variants = load_bench("retrieval_variants")
replay = load_bench("variant_replay")


def test_sweep_options_name_its_groups() -> None:
    args = variants.parse_args(["--dataset", "somewhere", "--only", "bm25,rm3"])
    assert args.only == "bm25,rm3" and not args.skip_embedding
    assert variants.FLOOR == 0.25  # the product's default floor, replayed


DOCS = [
    "Vitamin D deficiency raises the risk of fractures in older adults.",
    "Fractures heal slowly; fractures of the hip are the most common fractures. " * 3,
    "Gene expression in yeast responds to heat shock.",
]


@pytest.mark.parametrize("delta", [0.0, 0.25])
def test_bm25_replay_is_encoder_weight_times_store_idf(delta: float) -> None:
    lex = replay.Lexicon(DOCS)
    bm25 = replay.Bm25(lex, delta=delta, variant="l")
    terms = replay.query_terms(lex, "fractures in older adults")
    encoder = Bm25Encoder(delta=delta)
    query = encoder.encode_query("fractures in older adults")
    vectors = [encoder.encode_document(text) for text in DOCS]
    n = len(DOCS)
    for row, vector in enumerate(vectors):
        weights = dict(zip(vector.indices, vector.values, strict=True))
        expected = 0.0
        for term in query.indices:
            holders = sum(term in v.indices for v in vectors)
            if term in weights:
                expected += math.log((n - holders + 0.5) / (holders + 0.5) + 1.0) * weights[term]
        assert bm25.score_row(terms, row) == pytest.approx(expected)
    ranked = bm25.score_terms(terms)
    assert [row for row, _ in ranked] == [0, 1]  # the yeast abstract shares no term


def test_idf_cut_drops_common_terms_but_never_all() -> None:
    lex = replay.Lexicon(DOCS)
    assert set(replay.query_terms(lex, "fractures yeast")) == {"fractur", "yeast"}
    assert set(replay.query_terms(lex, "fractures yeast", idf_cut=0.8)) == {"yeast"}
    assert set(replay.query_terms(lex, "fractures", idf_cut=5.0)) == {"fractur"}


def test_rm3_keeps_the_question_and_adds_feedback_terms() -> None:
    lex = replay.Lexicon(DOCS)
    bm25 = replay.Bm25(lex)
    terms = replay.query_terms(lex, "hip")
    feedback = bm25.score_terms(terms)
    expanded = replay.rm3_terms(bm25, terms, feedback, docs=1, expansion=2, weight=0.5)
    assert expanded["hip"] >= 0.5  # the question keeps its half of the weight
    assert "fractur" in expanded  # the feedback document's heaviest term
    assert sum(expanded.values()) == pytest.approx(1.0)
    assert replay.rm3_terms(bm25, terms, [], 3, 10, 0.5) == terms


def test_fusion_variants_rank_an_id_found_by_both_first() -> None:
    dense = [("a", 0.9), ("b", 0.5), ("c", 0.4)]
    sparse = [("b", 12.0), ("d", 3.0), ("e", 2.0)]
    for how, top in (("robust", 0), ("mnz", 0), ("top", 2)):
        fused = replay.normalised_fusion(dense, sparse, how, top)
        assert fused[0][0] == "b", how
        assert {item for item, _ in fused} == {"a", "b", "c", "d", "e"}
    # Missing ids completed with their real (lower) scores rank below listed ones.
    completed = replay.completed_zscore(dense, sparse, lambda item: 0.1, None)
    plain = replay.completed_zscore(dense, sparse, None, None)
    assert [i for i, _ in completed][:2] == [i for i, _ in plain][:2] == ["b", "a"]


def test_lexicon_options_change_only_stemming_or_stopwords() -> None:
    text = "The fractures of the hips"
    assert replay.Lexicon([text]).docs == [["fractur", "hip"]]
    assert replay.Lexicon([text], stem=False).docs == [["fractures", "hips"]]
    assert replay.Lexicon([text], stopwords=False).docs == [["the", "fractur", "of", "the", "hip"]]


def test_window_pooling_weighs_each_window_and_returns_unit_vectors() -> None:
    windows = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], dtype=np.float32)
    owner = [0, 0, 1]  # text 0 has two windows, text 1 one
    even = replay.pooled(windows, owner, [1.0, 1.0, 1.0], 2)
    assert even[0] == pytest.approx(np.array([1.0, 1.0]) / math.sqrt(2))
    assert even[1] == pytest.approx([0.0, 1.0])
    first_heavy = replay.pooled(windows, owner, [1.0, 0.25, 1.0], 2)
    assert first_heavy[0][0] > first_heavy[0][1]
    assert np.linalg.norm(first_heavy, axis=1) == pytest.approx([1.0, 1.0])


def test_windows_cover_a_long_text_in_pieces_of_at_most_250() -> None:
    long_text = " ".join(f"protein{n % 7} folding" for n in range(300))
    windows, owner, pieces = replay.windows_of(["short text", long_text])
    assert owner[0] == 0 and windows[0] == "short text"
    assert owner[1:] == [1] * (len(owner) - 1) and len(owner) > 2
    assert all(p <= replay.WINDOW for p in pieces) and pieces[1] == replay.WINDOW
    assert windows[1].startswith("protein0 folding") and long_text.endswith(windows[-1])


def test_sentence_units_put_the_title_apart_or_before_each_sentence() -> None:
    corpus = [
        {"title": "Vitamin D", "text": "Deficiency raises risk, e.g. of fractures. It is common."},
        {"title": "", "text": "Yeast responds to heat."},
    ]
    units, owner = replay.sentence_units(corpus, titled=False)
    assert units == [
        "Vitamin D",
        "Deficiency raises risk, e.g. of fractures.",
        "It is common.",
        "Yeast responds to heat.",
    ]
    assert owner == [0, 0, 0, 1]
    titled, owner = replay.sentence_units(corpus, titled=True)
    assert titled[:2] == [
        "Vitamin D\nDeficiency raises risk, e.g. of fractures.",
        "Vitamin D\nIt is common.",
    ]
    assert titled[2] == "Yeast responds to heat." and owner == [0, 0, 1]


def test_per_document_takes_the_best_unit_and_the_mean_of_the_best_two() -> None:
    index = replay.unit_index([0, 0, 0, 1, 3, 3], 4)  # document 2 has no unit
    assert index.tolist() == [[0, 1, 2], [3, -1, -1], [-1, -1, -1], [4, 5, -1]]
    sims = np.array([0.1, 0.5, 0.3, 0.2, 0.9, 0.4], dtype=np.float32)
    best, two = replay.per_document(sims, index)
    assert best.tolist() == pytest.approx([0.5, 0.2, -1.0, 0.9])
    assert two.tolist() == pytest.approx([0.4, 0.2, -1.0, 0.65])  # one unit: itself


def test_latency_step_reads_each_candidates_best_sentence_from_the_store() -> None:
    rng = np.random.default_rng(7)

    def unit(a: np.ndarray) -> np.ndarray:
        return (a / np.linalg.norm(a, axis=-1, keepdims=True)).astype(np.float32)

    owner = sorted([*range(120), *rng.integers(0, 120, 500).tolist()])
    svec, cvec = unit(rng.normal(size=(len(owner), 8))), unit(rng.normal(size=(120, 8)))
    ids = [str(i) for i in range(120)]
    qvec = {"q": unit(rng.normal(size=8))}
    dense = {"q": [(i, float(cvec[int(i)] @ qvec["q"])) for i in ids[:100]]}
    sparse = {"q": [(i, float(200 - int(i))) for i in ids[20:120]]}
    fused = {"q": dense["q"]}
    timed = variants.sentence_latency(
        cvec,
        svec,
        replay.unit_index(owner, 120),
        ["q"],
        qvec,
        dense,
        sparse,
        fused,
        {i: int(i) for i in ids},
    )  # raises unless the store's MaxSim equals numpy's best sentence
    assert set(timed) == {"store", "numpy", "fuse3", "fuse2"}
    assert all(t["p50_ms"] > 0 for t in timed.values())
