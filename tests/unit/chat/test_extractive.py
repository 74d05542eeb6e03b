"""The extractive answerer: sentence splitting, scoring, picking, answer shapes (steps,
lists, tables, refusals), citing, streaming."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ragops.chat.citations import parse_citations
from ragops.chat.extractive import (
    NOT_FOUND_ANSWER,
    ExtractiveAnswer,
    ExtractiveAnswerer,
    ExtractivePassage,
    ScoredSentence,
    cite,
    pick_sentences,
    split_sentences,
    stream_words,
    word_deltas,
)
from ragops.chat.prompts import TextPassage


class PayloadPassage:
    """A passage with a payload, as retrieval returns them."""

    def __init__(self, text: str, payload: dict[str, object]) -> None:
        self.text = text
        self.payload = payload


def passage(text: str) -> TextPassage:
    return TextPassage("Doc", None, text)


POOL = passage(
    "# Connection pool\n\nThe pool keeps 5 connections open at all times. "
    "Requests wait for a free connection. Logging is configured elsewhere."
)
GROWTH = passage("Under load the pool grows to 20 connections. Idle ones close after 30 seconds.")
UNRELATED = passage("The web interface uses a dark theme. Buttons have rounded corners.")


async def ask(question: str, *passages: ExtractivePassage, n: int = 3) -> ExtractiveAnswer:
    return await ExtractiveAnswerer().answer(question, passages, max_sentences=n)


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
    answer = await ExtractiveAnswerer().answer("anything?", [])
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


async def test_answers_need_no_embedding() -> None:
    answer = await ask("Which theme does the web interface use?", POOL, UNRELATED)
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
    answer = await ask("run", passage("# Start\n\nRun it."))
    assert answer.text == "Run it [1]."
    nothing = await ask("start", passage("# Only a heading"))
    assert nothing.text == NOT_FOUND_ANSWER


@dataclass(frozen=True)
class DocPassage:
    """A passage of a known document."""

    title: str
    section: str
    text: str
    document_id: str = "runbook"


RUNBOOK = [
    DocPassage(
        "RagopsDBPoolWaiters",
        "RagopsDBPoolWaiters > Meaning",
        "Requests wait for a database connection: the pool is exhausted.",
    ),
    DocPassage(
        "RagopsDBPoolWaiters",
        "RagopsDBPoolWaiters > Mitigation",
        "Pick the branch that matches:\n\n- Slow queries: cancel them.\n"
        "- Pool too small: raise RAGOPS_DB_POOL_MAX and restart.\n- Stuck: restart.",
    ),
]


async def test_a_procedure_question_gets_the_action_section_whole() -> None:
    answer = await ask("The database pool is exhausted, what now?", *RUNBOOK)
    assert answer.kind == "procedure"
    assert answer.cited == (2,)
    assert answer.text.startswith("Mitigation (RagopsDBPoolWaiters) [2]:\n")
    assert answer.text.index("Slow queries") < answer.text.index("Pool too small")
    assert "- Stuck: restart." in answer.text


async def test_numbered_steps_come_back_in_their_order() -> None:
    steps = TextPassage(
        "Runbooks",
        "Runbooks > Rollback",
        "Fastest first:\n\n1. Git revert: revert the commit and push.\n"
        "2. Image tag: set the previous tag.\n3. Database: restore a backup.",
    )
    answer = await ask("How do I roll back a release?", POOL, steps)
    assert answer.cited == (2,)
    lines = answer.text.splitlines()
    assert lines[:2] == ["Rollback (Runbooks) [2]:", "Fastest first:"]
    assert [line[:3] for line in lines[2:]] == ["1. ", "2. ", "3. "]


async def test_a_list_question_gets_the_table_that_lists_the_things() -> None:
    table = TextPassage(
        "Ingestion",
        "Ingestion > Accepted files",
        "| type | recognised by |\n|---|---|\n| plain text | .txt |\n| Markdown | .md |\n"
        "| PDF | starts with %PDF- |",
    )
    answer = await ask("Which file types can be ingested?", POOL, table)
    assert answer.kind == "list"
    assert answer.text.splitlines()[1:] == [
        "- plain text: recognised by: .txt",
        "- Markdown: recognised by: .md",
        "- PDF: recognised by: starts with %PDF-",
    ]


async def test_a_value_is_answered_from_a_table_row() -> None:
    table = TextPassage(
        "Limits",
        "Limits",
        "| limit | default |\n|---|---|\n| upload size | 20 MiB |\n| PDF pages | 500 |",
    )
    answer = await ask("What is the default PDF pages limit?", UNRELATED, table)
    assert answer.text == "PDF pages: default: 500 [2]."


async def test_code_blocks_marked_at_ingestion_are_not_quoted() -> None:
    text = "Run the check:\n\nragops db current\n\nThe check prints the revision."
    start = text.index("ragops db")
    quoted = PayloadPassage(text, {"quoted": [[start, start + len("ragops db current")]]})
    answer = await ask("What does the revision check print?", quoted)
    assert "ragops db current" not in answer.text
    assert "prints the revision [1]" in answer.text


async def test_passages_about_something_else_are_not_quoted() -> None:
    answer = await ask("How do I bake sourdough bread at home?", POOL, GROWTH)
    assert answer.text == NOT_FOUND_ANSWER
    assert answer.cited == ()


# --- streaming ---


@pytest.mark.parametrize(
    "text", ["The pool keeps 5 [1]. It grows to 20 [2].", "  spaced\n\nlines  ", "", "one"]
)
async def test_stream_words_join_back_to_the_answer(text: str) -> None:
    deltas = [d async for d in stream_words(text)]
    assert "".join(deltas) == text
    assert deltas == word_deltas(text)
    assert all(len(d.split()) == 1 for d in deltas if d.strip())
