"""The semantic cache's lexical guards and threshold choice (pure functions)."""

from __future__ import annotations

import pytest

from ragops.cache.keys import exact_key, normalise
from ragops.cache.matching import (
    CALIBRATION,
    NO_SEMANTIC_HITS,
    choose,
    guard,
    semantic_threshold,
    threshold_for,
)


@pytest.mark.parametrize(
    ("question", "candidate", "reason"),
    [
        ("How do I rotate an API key?", "How do I revoke an API key?", "swapped_word"),
        ("What was the p95 latency in 2025?", "What was the p95 latency in 2026?", "numbers"),
        ("Which keys expire?", "Which keys never expire?", "negation"),
        ("Is Redis required?", "Is Postgres required?", "entities"),
        ("Flights from New York to Florida?", "Flights from Florida to New York?", "order"),
        ("Is coffee healthy?", "Is coffee bad for you?", "opposites"),
        ("How do I enable tracing?", "How do I disable tracing?", "opposites"),
        (
            "Does the pool keep connections open?",
            "Does the pool keep connections closed?",
            "opposites",
        ),
        ("How do I enlarge the font?", "How do I make the font smaller?", "opposites"),
        (
            "When does the pharmacy shut on Sundays?",
            "What time does the pharmacy open on Sunday?",
            "opposites",
        ),
        ("When was the novel published?", "Who wrote the novel?", "question_type"),
        (
            "How long does shipping a parcel take?",
            "How much does shipping a parcel cost?",
            "question_type",
        ),
        ("Why is the sea salty?", "Where is the sea salty?", "question_type"),
        (
            "Why do I get a headache when I stop drinking coffee?",
            "What causes a headache after drinking coffee?",
            "cessation",
        ),
        # A reason asked on one side only: a yes/no question is not its explanation.
        ("Is Rust the fastest language?", "Why is Rust the fastest language?", "question_type"),
        ("Why are my builds slow?", "What should I do when my builds are slow?", "question_type"),
        # Numbers count as often as they occur.
        (
            "Can version 2 clients talk to a server?",
            "Can version 2 clients talk to a version 2 server?",
            "numbers",
        ),
        # A name on each side that the other does not mention: a conflict.
        (
            "Does the Chrome browser have a dark mode?",
            "Does the Firefox browser have a dark mode?",
            "entities",
        ),
        # Compared by stem, other names still conflict.
        (
            "When does the pharmacy open on Sundays?",
            "When does the pharmacy open on Mondays?",
            "entities",
        ),
    ],
)
def test_near_misses_are_refused(question: str, candidate: str, reason: str) -> None:
    verdict = guard(question, candidate)
    assert not verdict.ok and verdict.reason == reason


@pytest.mark.parametrize(
    ("question", "candidate"),
    [
        ("How do I rotate an API key?", "How can I rotate my API key?"),
        ("How can I turn on OpenTelemetry tracing?", "How do I enable tracing?"),
        ("What is the capital of Australia?", "Which city is Australia's capital?"),
        ("How many connections stay open in the pool?", "How many connections does it keep open?"),
        ("How many weeks are in a year?", "What is the number of weeks in one year?"),
        ("How long does a request wait?", "How many seconds does a request wait?"),
        ("Why does coffee give me headaches?", "What causes a headache after drinking coffee?"),
        ("How do I stop my dog from barking?", "What can I do about my dog barking?"),
        # A capital that only starts a second sentence is no name.
        ("How do I install Docker on Ubuntu? Is it free?", "How can I install Docker on Ubuntu?"),
        # A name the other side writes in lower case is the same name.
        (
            "What are the opening hours of the City Library in Boston?",
            "When does the city library in Boston open?",
        ),
        ("Why is the sky blue?", "What makes the sky look blue?"),
        # ... or in another inflection: names are compared by stem.
        ("When does the pharmacy open on Sundays?", "What time does the pharmacy open on Sunday?"),
        ("Do the Germans tip in restaurants?", "Does a German tip in a restaurant?"),
    ],
)
def test_paraphrases_pass(question: str, candidate: str) -> None:
    assert guard(question, candidate).ok


def test_choose_takes_the_first_acceptable_candidate_above_the_threshold() -> None:
    ranked = [(0.95, "How do I revoke an API key?"), (0.9, "How can I rotate my API key?")]
    assert choose("How do I rotate an API key?", ranked, 0.8) == 1
    assert choose("How do I rotate an API key?", ranked, 0.92) is None
    assert choose("How do I rotate an API key?", ranked, 0.8, guards=False) == 0


def test_threshold_tightens_as_the_tolerated_error_falls() -> None:
    thresholds = [threshold_for(error) for error in (0.0, 0.005, 0.01, 0.02, 0.5)]
    assert thresholds == sorted(thresholds, reverse=True)
    assert threshold_for(0.0) == CALIBRATION[0][1] == NO_SEMANTIC_HITS > 1.0
    assert threshold_for(0.005) == NO_SEMANTIC_HITS  # nothing certified below 1 %
    assert threshold_for(0.5) == threshold_for(0.01)  # levels above 1 % failed held-out


def test_an_uncalibrated_local_model_gets_no_semantic_hits_unless_set() -> None:
    assert semantic_threshold(None, 0.01, "onnx-minilm") == threshold_for(0.01)
    assert semantic_threshold(None, 0.01, "bge-small") == NO_SEMANTIC_HITS
    assert semantic_threshold(0.97, 0.01, "bge-small") == 0.97
    assert semantic_threshold(0.8, 0.01, "onnx-minilm") == 0.8


def key(question: str, version: int = 1) -> str:
    return exact_key(
        tenant_id="t",
        collection="c",
        version=version,
        fingerprint="f",
        question=question,
        query=question,
    )


def test_exact_keys_ignore_case_space_and_final_punctuation_only() -> None:
    assert key("What is X?") == key("  what IS x ") != key("What is Y?")
    assert key("What is X?") != key("What is X?", version=2)
    assert normalise("Tenant ID?") == "tenant id"
    assert key("What is X?").startswith("answers:t:c:v1:x:")
