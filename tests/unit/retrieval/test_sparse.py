"""The BM25 sparse encoder: analysis, stable term ids, saturation and length normalisation."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ragops.retrieval.sparse import Bm25Encoder, analyze, term_id


def test_analyze_lowercases_drops_stopwords_and_stems() -> None:
    assert analyze("The Running of the Dogs, and the runner's cats!") == [
        "run",
        "dog",
        "runner",
        "cat",
    ]


def test_analyze_keeps_negations_and_unicode_words() -> None:
    assert analyze("Not über-cool") == ["not", "über", "cool"]
    assert analyze("1,000 genomes") == ["1", "000", "genom"]


def test_term_ids_are_stable_32_bit_across_processes() -> None:
    here = term_id("genom")
    code = "from ragops.retrieval.sparse import term_id; print(term_id('genom'))"
    there = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONHASHSEED": "12345"},
    ).stdout.strip()
    assert int(there) == here
    assert 0 <= here < 2**32


def test_query_weights_are_one_per_unique_term() -> None:
    vector = Bm25Encoder().encode_query("cats and more cats chasing a cat")
    assert vector.indices == sorted({term_id("cat"), term_id("chase")})
    assert vector.values == [1.0, 1.0]


def test_document_weights_follow_bm25_saturation() -> None:
    encoder = Bm25Encoder(k1=1.2, b=0.75, avg_len=4.0)
    vector = encoder.encode_document("cat cat dog bird")  # 4 terms: len == avg_len
    weights = dict(zip(vector.indices, vector.values, strict=True))
    # norm = k1 * (1 - b + b * 4/4) = 1.2
    assert weights[term_id("cat")] == pytest.approx(2 * 2.2 / (2 + 1.2))
    assert weights[term_id("dog")] == pytest.approx(1 * 2.2 / (1 + 1.2))
    assert vector.indices == sorted(vector.indices)


def test_delta_weights_are_bm25l_shifted_frequencies() -> None:
    assert Bm25Encoder().delta == 0.0  # classic BM25 by default
    encoder = Bm25Encoder(k1=1.2, b=0.75, avg_len=8.0, delta=0.25)
    vector = encoder.encode_document("cat cat dog bird")  # 4 terms: half the average length
    weights = dict(zip(vector.indices, vector.values, strict=True))
    norm = 1 - 0.75 + 0.75 * 4 / 8  # 0.625
    for term, tf in (("cat", 2), ("dog", 1)):
        c = tf / norm + 0.25
        assert weights[term_id(term)] == pytest.approx(2.2 * c / (1.2 + c))


def test_delta_lifts_a_single_match_in_a_long_passage_most() -> None:
    """BM25L's shift: a term met once in a long passage keeps more of its weight than
    classic BM25 gives it, relative to the same term in a short passage."""
    classic = Bm25Encoder(avg_len=10.0, delta=0.0)
    shifted = Bm25Encoder(avg_len=10.0, delta=0.25)
    short_text = "protein folding"
    long_text = "protein folding " + "kinase " * 60
    protein = term_id("protein")

    def weight(encoder: Bm25Encoder, text: str) -> float:
        vector = encoder.encode_document(text)
        return dict(zip(vector.indices, vector.values, strict=True))[protein]

    classic_ratio = weight(classic, long_text) / weight(classic, short_text)
    shifted_ratio = weight(shifted, long_text) / weight(shifted, short_text)
    assert shifted_ratio > classic_ratio
    assert weight(shifted, long_text) < weight(shifted, short_text)  # length still counts
    assert shifted.encode_document("gene " * 1000).values[0] < 2.2  # still bounded by k1 + 1


def test_longer_documents_weigh_each_term_less() -> None:
    encoder = Bm25Encoder(k1=1.2, b=0.75, avg_len=10.0)
    short = encoder.encode_document("protein folding")
    long = encoder.encode_document("protein folding " + "kinase " * 30)
    protein = term_id("protein")
    assert (
        dict(zip(short.indices, short.values, strict=True))[protein]
        > dict(zip(long.indices, long.values, strict=True))[protein]
    )


def test_b_zero_ignores_length_and_tf_saturates() -> None:
    encoder = Bm25Encoder(k1=1.0, b=0.0, avg_len=10.0)
    values = [encoder.encode_document("gene " * n).values[0] for n in (1, 10, 1000)]
    assert values[0] < values[1] < values[2] < 2.0  # bounded by k1 + 1


def test_empty_and_stopword_only_text() -> None:
    encoder = Bm25Encoder()
    assert encoder.encode_document("").indices == []
    assert encoder.encode_query("the and of").indices == []


def test_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        Bm25Encoder(b=1.5)
    with pytest.raises(ValueError):
        Bm25Encoder(avg_len=0)
    with pytest.raises(ValueError):
        Bm25Encoder(delta=-0.1)
