"""Names in questions: a question about a product the retrieved passages never mention is
refused, however many of its other words (migrate, schema, backup) the passages share."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ragops.chat.extractive import NOT_FOUND_ANSWER, ExtractiveAnswerer
from ragops.chat.terms import missing_names, names


@dataclass(frozen=True)
class ScoredPassage:
    """A retrieved passage close in meaning to the question (cosine above the confident
    similarity), as a near-topic question's passages are."""

    title: str
    section: str
    text: str
    score: float = 0.6
    document_id: str = "doc-1"


MIGRATIONS = ScoredPassage(
    "Deployment",
    "Deployment > Migrations",
    "Migrations change the database schema. To migrate the schema run `ragops migrate`; "
    "each migration is applied in order and recorded in the PostgreSQL database.",
)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How do I migrate a MySQL schema to Oracle?", ["MySQL", "Oracle"]),
        ("Which alert fires when a Kafka consumer lags?", ["Kafka"]),
        ("What is the default pool size of HikariCP?", ["HikariCP"]),
        ("How big may an API request be?", ["API"]),
        ("Does ragops hash keys with SHA-256?", ["SHA-256"]),
        # a capital that starts a sentence is an ordinary word; acronyms count anywhere
        ("Backups: how often are they taken?", []),
        ("The LLM is down. What now?", ["LLM"]),
        ("Which scopes exist besides the Admin scope?", []),
        ("How do I restore a backup?", []),
    ],
)
def test_names_of_a_question(question: str, expected: list[str]) -> None:
    assert names(question) == expected


def test_a_name_is_found_in_its_variants() -> None:
    assert missing_names("Is the DB pool shared?", ["the database pool"]) == []
    assert missing_names("Which SHA-256 digest is stored?", ["a sha256 digest"]) == []
    assert missing_names("How do I tune Postgres?", ["PostgreSQL settings"]) == []
    assert missing_names("Which APIs exist?", ["The HTTP API"]) == []
    assert missing_names("Can K8s run it?", ["Kubernetes manifests"]) == []
    assert missing_names("Is RagopsDBPoolWaiters a page?", ["`RagopsDBPoolWaiters` fires"]) == []
    assert missing_names("Which Qdrant-Edge version?", ["Qdrant Edge 0.9"]) == []
    assert missing_names("How do I back up MySQL?", ["Backups of PostgreSQL"]) == ["MySQL"]


def test_a_name_is_matched_as_written_not_by_its_stem() -> None:
    assert missing_names("Does it run on Windows?", ["The long window and the short window"]) == [
        "Windows"
    ]


async def test_a_question_about_a_product_the_passages_never_name_is_refused() -> None:
    answer = await ExtractiveAnswerer().answer(
        "How do I migrate a MySQL schema to Oracle?", [MIGRATIONS]
    )
    assert answer.text == NOT_FOUND_ANSWER
    assert answer.cited == ()


async def test_the_same_question_about_a_named_product_is_answered() -> None:
    answer = await ExtractiveAnswerer().answer(
        "How do I migrate the PostgreSQL schema?", [MIGRATIONS]
    )
    assert answer.cited == (1,)
    assert "ragops migrate" in answer.text


async def test_a_name_found_only_in_the_heading_or_code_counts() -> None:
    passage = ScoredPassage(
        "Operations",
        "Operations > Alembic revisions",
        "Each revision changes the schema.\n\n```\nalembic upgrade head\n```",
    )
    answer = await ExtractiveAnswerer().answer("What does an Alembic revision change?", [passage])
    assert answer.cited == (1,)
