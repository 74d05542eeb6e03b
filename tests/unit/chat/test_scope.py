"""The scope check's words: which of a question's words the retrieved passages do not hold
(and so are looked up in the whole collection), and when unused ones, or ones used once in a
passage not retrieved, put it out of scope."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from ragops.chat.scope import held_words, out_of_scope, refuses, unknown_words
from ragops.chat.terms import terms

PASSAGES = [
    "Scaling\nScaling > Vertical\nA bigger instance type helps when memory passes 85 percent.",
    "Backups\nBackups > Restore\nRestore the database with `ragops backup restore FILE`.",
]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("can i run the embedder on a gpu with cuda?", ["run", "embedder", "gpu", "cuda"]),
        # held by stem, by an abbreviation's meaning, or within a typo
        ("How do I restore the DB from backups?", []),
        ("How do I restore the databse?", []),
        ("How do I restroe the database?", []),
        # a short word one letter off is another word, not a typo
        ("Does it post to slack?", ["post", "slack"]),
        # question boilerplate and stopwords are never looked up
        ("Is it possible to get a bigger instance, please?", []),
    ],
)
def test_words_the_passages_do_not_hold(question: str, expected: list[str]) -> None:
    assert unknown_words(question, PASSAGES) == expected


def test_one_unused_word_refuses_only_without_a_close_passage() -> None:
    assert refuses(["gpu"], similar=False)
    assert not refuses(["beefier"], similar=True)
    assert refuses(["voice", "microphone"], similar=True)
    assert not refuses([], similar=False)


def test_two_unused_words_pass_only_beside_a_close_passage_holding_the_question() -> None:
    # two per unused word: 4 held words let 2 unused ones through, 3 do not
    assert not refuses(["somebody", "pile"], similar=True, held=4)
    assert refuses(["somebody", "pile"], similar=True, held=3)
    assert refuses(["autoscale", "ecs", "fargate"], similar=True, held=5)
    assert refuses(["somebody", "pile"], similar=False, held=6)


def test_the_words_a_passage_holds_are_the_question_words_it_does_not_lack() -> None:
    question = "somebody deleted the database by mistake, how do i restore it from backups?"
    # held: database, restore, backups; not: somebody, deleted, mistake
    assert held_words(question, PASSAGES[1]) == 3
    assert held_words(question, PASSAGES[0]) == 0


async def test_the_collection_is_asked_only_when_its_answer_matters() -> None:
    asked: list[list[str]] = []

    async def uses(words: Sequence[str]) -> dict[str, list[str]]:
        asked.append(list(words))
        return {w: [] if w in {"gpu", "cuda"} else ["c1", "c2"] for w in words}

    question = "can i run the embedder on a gpu with cuda?"
    assert await out_of_scope(question, PASSAGES, PASSAGES, uses) == ["gpu", "cuda"]
    # one unknown word beside a close passage: no lookup at all
    assert await out_of_scope("How do I restore a snapshot?", PASSAGES, PASSAGES, uses) == []
    assert asked == [["run", "embedder", "gpu", "cuda"]]


async def test_a_word_used_once_elsewhere_refuses_only_without_a_close_passage() -> None:
    # "accounts" is used by one chunk of the collection, not a retrieved one; "admin" by many
    found = {"admin": ["c1", "c2"], "accounts": ["c9"]}

    async def uses(words: Sequence[str]) -> dict[str, list[str]]:
        return {w: found[w] for w in words}

    question = "How do I restore backups of admin accounts?"
    assert await out_of_scope(question, PASSAGES, [], uses, {"c1"}) == ["accounts"]
    # beside a passage close in meaning it is the asker's word, as an unused one is
    assert await out_of_scope(question, PASSAGES, PASSAGES[1:], uses, {"c1"}) == []
    # the one chunk using it was retrieved: the question is about that passage
    assert await out_of_scope(question, PASSAGES, [], uses, {"c9"}) == []
    # used by two chunks: a word of the collection's, not a passing mention
    found["accounts"] = ["c8", "c9"]
    assert await out_of_scope(question, PASSAGES, [], uses, {"c1"}) == []


def test_a_word_of_the_synonym_table_is_never_unknown() -> None:
    # "storage" maps to the documents' "store", which these passages do not hold either
    assert unknown_words("Is the storage of backups restored?", PASSAGES) == []


def test_a_negative_contraction_is_no_word_of_the_question() -> None:
    # "won't" once left "won", a word no passage holds: with "boot", two unknown words
    question = "My server won't boot with production mode. Which setups does it reject?"
    texts = ["Production\nProduction > Refusals\nIn production mode the server rejects setups."]
    assert unknown_words(question, texts) == ["boot"]
    assert unknown_words("Why can't ragops start, and why shouldn’t I worry?", texts) == [
        "ragops",
        "start",
        "worry",
    ]


async def test_a_question_with_a_contraction_is_not_refused_beside_a_close_passage() -> None:
    async def uses(words: Sequence[str]) -> dict[str, list[str]]:
        return {w: [] for w in words if w in {"won", "boot"}}  # the collection uses neither

    question = "My server won't boot with production mode. Which setups does it reject?"
    texts = ["Production\nProduction > Refusals\nIn production mode the server rejects SQLite."]
    assert await out_of_scope(question, texts, texts, uses) == []


def test_a_contraction_typed_without_its_apostrophe_is_no_word_of_the_question() -> None:
    # "whats" and "dont" once counted as words no passage holds; "quickest" asks for a manner
    texts = ["Deployment\nDeployment > Rollback\nRoll back a bad release with git revert."]
    question = "a bad release just went out, whats the quickest way to roll back? dont say wait"
    assert unknown_words(question, texts) == ["went", "wait"]
    assert terms("whats dont isnt") == []
