"""The extractive answerer: sentence splitting, scoring, picking, citing, streaming."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from ragops.chat.citations import parse_citations
from ragops.chat.extractive import (
    NOT_FOUND_ANSWER,
    ExtractiveAnswer,
    ExtractiveAnswerer,
    ScoredSentence,
    cite,
    pick_sentences,
    split_sentences,
    stream_words,
    terms,
    word_deltas,
)
from ragops.chat.prompts import TextPassage

DIM = 64


def bag_vector(text: str) -> npt.NDArray[np.float32]:
    """A tiny deterministic embedding: hashed bag of stemmed words, unit length."""
    vector = np.zeros(DIM, dtype=np.float32)
    for term in terms(text):
        vector[int(hashlib.sha256(term.encode()).hexdigest(), 16) % DIM] += 1.0
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


async def embed(texts: Sequence[str]) -> npt.NDArray[np.float32]:
    return np.stack([bag_vector(t) for t in texts])


def passage(text: str) -> TextPassage:
    return TextPassage("Doc", None, text)


POOL = passage(
    "# Connection pool\n\nThe pool keeps 5 connections open at all times. "
    "Requests wait for a free connection. Logging is configured elsewhere."
)
GROWTH = passage("Under load the pool grows to 20 connections. Idle ones close after 30 seconds.")
UNRELATED = passage("The web interface uses a dark theme. Buttons have rounded corners.")


async def ask(
    question: str, *passages: TextPassage, dense: bool = True, n: int = 3
) -> ExtractiveAnswer:
    answerer = ExtractiveAnswerer()
    if dense:
        return await answerer.answer(
            question, passages, embed=embed, query_vector=bag_vector(question), max_sentences=n
        )
    return await answerer.answer(question, passages, max_sentences=n)


# --- sentence splitting ---


def test_split_keeps_abbreviations_and_versions_together() -> None:
    text = "Use a pool, e.g. asyncpg. It needs Python 3.11 or newer, i.e. CPython. Then run it."
    assert split_sentences(text) == [
        "Use a pool, e.g. asyncpg.",
        "It needs Python 3.11 or newer, i.e. CPython.",
        "Then run it.",
    ]


def test_split_handles_markdown_structure() -> None:
    text = (
        "# Title\n\nA paragraph that wraps\nover two lines. Second sentence!\n\n"
        "- First item: do this\n- Second item. With two sentences.\n1. Numbered step\n\n"
        "```bash\nragops serve. Not prose.\n```\n\n| a | b |\n|---|---|\n\nSetext heading\n"
        "===\nLast words?"
    )
    assert split_sentences(text) == [
        "A paragraph that wraps over two lines.",
        "Second sentence!",
        "First item: do this",
        "Second item.",
        "With two sentences.",
        "Numbered step",
        "Last words?",
    ]


def test_split_cuts_runaway_sentences() -> None:
    [sentence] = split_sentences("word " * 500)
    assert len(sentence) <= 400
    assert sentence.endswith("\u2026")


@pytest.mark.parametrize(
    ("sentence", "cited"),
    [
        ("The pool keeps 5 open.", "The pool keeps 5 open [1]."),
        ("Does it grow?", "Does it grow [1]?"),
        ("First item: do this", "First item: do this [1]."),
        ("Run the following:", "Run the following [1]."),
    ],
)
def test_cite(sentence: str, cited: str) -> None:
    assert cite(sentence, 1) == cited


# --- answering ---


async def test_empty_passages_give_the_honest_message() -> None:
    answer = await ExtractiveAnswerer().answer("anything?", [], embed=embed, query_vector=None)
    assert answer.text == NOT_FOUND_ANSWER
    assert answer.cited == ()
    assert parse_citations(answer.text, 0).markers == 0


async def test_best_sentence_first_with_citation() -> None:
    answer = await ask("How many connections does the pool keep open?", POOL, UNRELATED, n=1)
    assert answer.text == "The pool keeps 5 connections open at all times [1]."
    assert answer.cited == (1,)


async def test_sentences_from_two_passages_each_cited() -> None:
    answer = await ask(
        "How many connections does the pool keep and grow to?", UNRELATED, POOL, GROWTH
    )
    text: str = answer.text
    assert "keeps 5 connections open at all times [2]." in text
    assert "grows to 20 connections [3]." in text
    assert "dark theme" not in text
    check = parse_citations(text, 3)
    assert check.ok
    assert set(check.cited) == {2, 3}
    assert check.cited == answer.cited


async def test_lexical_only_without_embed() -> None:
    answer = await ask("Which theme does the web interface use?", POOL, UNRELATED, dense=False)
    assert answer.text.startswith("The web interface uses a dark theme [2].")


async def test_max_sentences_is_respected_and_at_least_one() -> None:
    zero = await ask("pool connections", POOL, GROWTH, n=0)
    assert len(zero.sentences) == 1
    many = await ask("pool connections", POOL, GROWTH, n=3)
    assert 1 <= len(many.sentences) <= 3


async def test_same_passage_sentences_stay_in_document_order() -> None:
    doc = passage(
        "Backups run nightly at 02:00. Backups are kept for 30 days. Restores use the CLI."
    )
    answer = await ask("When do backups run and how long are backups kept?", doc)
    text: str = answer.text
    assert text.index("nightly") < text.index("30 days")


def test_near_tie_prefers_a_passage_not_cited_yet() -> None:
    scored = [
        ScoredSentence("Tokens expire after one hour.", 1, 0, 0.90),
        ScoredSentence("Sessions end when the browser closes.", 1, 1, 0.85),
        ScoredSentence("Refresh tokens last thirty days.", 2, 0, 0.84),
    ]
    picked = pick_sentences(scored, 2)
    assert [(s.passage, s.position) for s in picked] == [(1, 0), (2, 0)]


def test_clear_winner_beats_a_new_passage() -> None:
    scored = [
        ScoredSentence("Tokens expire after one hour.", 1, 0, 0.90),
        ScoredSentence("Sessions end when the browser closes.", 1, 1, 0.85),
        ScoredSentence("Refresh tokens last thirty days.", 2, 0, 0.80),
    ]
    assert [s.position for s in pick_sentences(scored, 2)] == [0, 1]


def test_weak_extra_sentences_are_left_out() -> None:
    scored = [
        ScoredSentence("Tokens expire after one hour.", 1, 0, 0.90),
        ScoredSentence("The logo is blue.", 2, 0, 0.30),
    ]
    assert len(pick_sentences(scored, 3)) == 1


async def test_near_duplicates_are_not_repeated() -> None:
    answer = await ask("pool size", passage("The pool size is 5."), passage("The pool size is 5!"))
    assert len(answer.sentences) == 1


async def test_deterministic() -> None:
    question = "How does the pool grow under load?"
    answers = [await ask(question, POOL, GROWTH, UNRELATED) for _ in range(3)]
    assert answers[0] == answers[1] == answers[2]


async def test_passages_of_only_code_or_headings_still_answer_something() -> None:
    answer = await ask("start", passage("# Start\n\nRun it."))
    assert answer.text == "Run it [1]."
    nothing = await ask("start", passage("# Only a heading"))
    assert nothing.text == NOT_FOUND_ANSWER


async def test_embed_returning_the_wrong_count_is_an_error() -> None:
    async def broken(texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return np.zeros((1, DIM), dtype=np.float32)

    with pytest.raises(ValueError, match="vectors"):
        await ExtractiveAnswerer().answer(
            "q", [POOL], embed=broken, query_vector=bag_vector("pool")
        )


# --- streaming ---


@pytest.mark.parametrize(
    "text", ["The pool keeps 5 [1]. It grows to 20 [2].", "  spaced\n\nlines  ", "", "one"]
)
async def test_stream_words_join_back_to_the_answer(text: str) -> None:
    deltas = [d async for d in stream_words(text)]
    assert "".join(deltas) == text
    assert deltas == word_deltas(text)
    assert all(len(d.split()) == 1 for d in deltas if d.strip())
