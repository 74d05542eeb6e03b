"""The signals of `bench/cache_signals.py`: its ranking measure, its content-word alignment
over the embedder's static word-piece table, and its contextual alignment."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.unit.bench import load_bench

signals = load_bench("cache_signals")


@pytest.fixture(scope="module")
def words() -> Any:
    return signals.Words()


def test_auc_ranks_same_meaning_pairs_above_near_misses() -> None:
    labels = np.array([True, True, False, False])
    assert signals.auc(labels, np.array([0.9, 0.8, 0.2, 0.1])) == 1.0
    assert signals.auc(labels, np.array([0.1, 0.2, 0.8, 0.9])) == 0.0
    assert signals.auc(labels, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    assert signals.auc(np.array([True, True]), np.array([0.1, 0.2])) is None


def test_static_word_vectors_are_centred(words: Any) -> None:
    """Uncentred, the table scores every pair of words above 0.99 (its common direction)."""
    rotate, revoke, rotation = (words.vector(w) for w in ("rotate", "revoke", "rotation"))
    assert float(rotate @ revoke) < 0.5
    assert float(rotate @ rotation) > float(rotate @ revoke)


def test_alignment_scores_identical_and_restemmed_questions_fully(words: Any) -> None:
    align = words.align
    assert align("How do I rotate an API key?", "how do i rotate an api key") == (1.0, 1.0)
    assert align("How do I rotate API keys?", "How do I rotate an API key?")[0] == 1.0
    worst, mean = align("How do I rotate an API key?", "How do I revoke an API key?")
    assert worst < 0.5 and worst < mean < 1.0


def test_differing_words_are_the_content_words_of_one_side_only(words: Any) -> None:
    assert words.differing("How do I rotate an API key?", "How do I revoke API keys?") == (
        "rotate",
        "revoke",
    )


def test_context_alignment_is_one_for_the_same_text_and_lower_otherwise(words: Any) -> None:
    f1 = words.context_f1
    assert f1("Why is the sky blue?", "Why is the sky blue?") == pytest.approx(1.0, abs=1e-5)
    assert f1("Why is the sky blue?", "How do volcanoes form?") < 0.9


def test_overlap_is_the_jaccard_of_content_stems(words: Any) -> None:
    overlap = words.overlap
    assert overlap("How do I rotate API keys?", "how to rotate an api key") == 1.0
    assert overlap("How do I rotate an API key?", "How do I revoke an API key?") == 0.5
    assert overlap("Why is the sky blue?", "How do volcanoes form?") == 0.0
