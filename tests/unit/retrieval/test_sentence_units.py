"""The units behind the sentence-level signal: the shared splitter (`text.sentences`), which
the extractive answerer imports from there unchanged; paragraphs, list items and table rows;
the title first and at most `MAX_UNITS`; fusing three rankings; the answer-cache key."""

from __future__ import annotations

from ragops.cache.keys import fingerprint
from ragops.chat import units as chat_units
from ragops.config.settings import Settings
from ragops.retrieval.fusion import fuse, fuse_rankings
from ragops.retrieval.units import MAX_UNITS, chunk_units
from ragops.text import sentences


def test_chat_uses_the_shared_splitter() -> None:
    assert chat_units.sentences_of is sentences.sentences_of
    assert chat_units.clip is sentences.clip


def test_paragraphs_join_wrapped_lines_and_split_items_and_rows() -> None:
    text = (
        "Restart the worker when the queue\nis drained. Then check it.\n\n"
        "Steps:\n- stop it\n  gently\n1. drain\n| a | b |\n| 1 | 2 |\n1.5 seconds pass."
    )
    assert sentences.paragraphs_of(text) == [
        "Restart the worker when the queue is drained. Then check it.",
        "Steps:",
        "- stop it gently",
        "1. drain",
        "| a | b |",
        "| 1 | 2 |",
        "1.5 seconds pass.",
    ]
    assert sentences.text_sentences(text)[:2] == [
        "Restart the worker when the queue is drained.",
        "Then check it.",
    ]


def test_chunk_units_are_the_title_then_sentences_bounded() -> None:
    payload = {"title": "Backups", "text": "They run nightly. Keep them 30 days."}
    assert chunk_units(payload) == ["Backups", "They run nightly.", "Keep them 30 days."]
    long = {"title": "", "text": " ".join(f"Step {n} is done." for n in range(100))}
    assert len(chunk_units(long)) == MAX_UNITS
    assert chunk_units({"title": "", "text": ""}, "indexed text") == ["indexed text"]
    assert chunk_units({"title": " ", "text": "  "}) == []


def test_a_third_ranking_moves_its_best_candidate_up() -> None:
    dense = [("a", 0.9), ("b", 0.8), ("c", 0.7), ("d", 0.1)]
    sparse = [("b", 9.0), ("a", 8.0), ("c", 7.0), ("d", 1.0)]
    head = [("c", 0.9), ("d", 0.2), ("a", 0.1), ("b", 0.1)]
    # Ranks only: c, first of the third list and third of the others, stays behind a and b.
    rrf = fuse_rankings([dense, sparse, head], [1, 1, 1], method="rrf")
    assert [item for item, _ in rrf] == ["a", "b", "c", "d"]
    for method in ("weighted", "zscore"):
        two = fuse(dense, sparse, method=method)  # type: ignore[arg-type]
        assert fuse_rankings([dense, sparse], [1, 1], method=method) == two  # type: ignore[arg-type]
        three = fuse_rankings([dense, sparse, head], [1, 1, 1], method=method)  # type: ignore[arg-type]
        assert [two[0][0], three[0][0]] == ["a", "c"], method
        assert fuse_rankings([dense, sparse, head], [1, 1, 0], method=method) == two  # type: ignore[arg-type]


def test_the_setting_is_part_of_the_answer_cache_key() -> None:
    def key(on: bool) -> str:
        settings = Settings(_env_file=None, sentence_vectors=on)
        return fingerprint(settings, prompt="p", embedder_model="m")

    assert key(True) != key(False)
