"""The shape an answer takes follows what the question asks, however it is worded: a question
put after a sentence that sets the scene, a plural noun with several modifiers, a yes/no
question that names steps, a contraction before a superlative; and a table row quoted alone
keeps its last clause."""

from __future__ import annotations

import pytest

from ragops.chat.intent import question_kind
from tests.unit.chat.passages import DocPassage, answer_text

RESTORE = DocPassage(
    "Recovery",
    "Recovery > Option C: hosted point-in-time restore",
    "The hosting provider keeps the history of a branch; restore into a new branch, check it, "
    "then switch. Console labels may differ between provider releases.\n\n"
    "1. In the provider console create a branch from production with a past timestamp.\n"
    "2. Wait until the branch is ready and copy its connection string.\n"
    "3. Run the checks against the branch.\n"
    "4. Switch the service's database address to the branch and restart it.\n",
    document_id="recovery",
    score=0.6,
)
CHECKS = DocPassage(
    "Recovery",
    "Recovery > Checks before switching",
    "The check prints the schema revision and the row count of every table of the restored "
    "database, and exits 1 when the database was never migrated.",
    document_id="recovery",
    score=0.3,
)


def test_a_question_after_a_scene_setting_sentence_is_answered_with_the_steps() -> None:
    question = (
        "We host the database with a provider and need it back as it was an hour ago. "
        "What are the steps?"
    )
    assert question_kind(question) == "procedure"
    text = answer_text(question, RESTORE, CHECKS)
    assert "1. In the provider console" in text
    assert "4. Switch the service's database address" in text


HEADERS = DocPassage(
    "HTTP hardening",
    "HTTP hardening > Security headers",
    "| header | value |\n"
    "|---|---|\n"
    "| X-Content-Type-Options | nosniff |\n"
    "| X-Frame-Options | DENY |\n"
    "| Referrer-Policy | no-referrer |\n"
    "| Content-Security-Policy | by kind of response, always with frame-ancestors 'none' |\n",
    document_id="hardening",
    score=0.55,
)
HSTS = DocPassage(
    "HTTP hardening",
    "HTTP hardening > Security headers > HSTS",
    "Browsers ignore the header on plain-HTTP responses, so the server sends it on every "
    "response regardless, which is harmless.",
    document_id="hardening",
    score=0.6,
)


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("What security-related HTTP headers does the server attach to its responses?", "list"),
        ("Which two-letter country codes are accepted?", "list"),
        ("What security-related header does the server add?", "fact"),  # singular: no list
        ("What does the server attach to its responses?", "fact"),  # no noun phrase
    ],
)
def test_a_plural_noun_after_several_modifiers_asks_for_a_list(question: str, kind: str) -> None:
    assert question_kind(question) == kind


def test_security_headers_asked_with_modifiers_are_answered_with_the_whole_table() -> None:
    text = answer_text(
        "What security-related HTTP headers does the server attach to its responses?",
        HSTS,
        HEADERS,
    )
    for header in ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"):
        assert header in text


CHANNELS = DocPassage(
    "Incidents",
    "Incidents > Paging and escalation",
    "Channels, each on when configured:\n\n"
    "| channel | settings | what it sends |\n"
    "|---|---|---|\n"
    "| Pager service Events API | PAGER_ROUTING_KEY, PAGER_EVENTS_URL | a trigger with the "
    "summary, the severity (critical, error, warning or info), the runbook, the incident and "
    "the acknowledge links; then acknowledge and resolve events for the same incident, with "
    "one deduplication key per incident, so the service groups them. The pager service runs "
    "its own escalation, so only the first page goes there. |\n"
    "| chat webhook | CHAT_WEBHOOK_URL | one message per page, naming the person paged |\n"
    "| e-mail | SMTP_HOST, SMTP_PORT | a message to the paged person's contacts |\n",
    document_id="incidents",
    score=0.6,
)


def test_a_yes_no_question_naming_steps_is_settled_by_the_row_to_its_end() -> None:
    question = "Does the server send each escalation step to the pager service as well?"
    assert question_kind(question) == "yesno"
    assert question_kind("What are the steps to restore a backup?") == "procedure"
    text = answer_text(question, CHANNELS)
    assert "only the first page goes there" in text
    assert not text.startswith("Paging and escalation")  # a sentence, not the section


UPLOADS = DocPassage(
    "HTTP API",
    "HTTP API > Documents",
    "POST /v1/documents?async=true stores the files and ingests them in a background job. "
    "It answers 202 at once with the job's address; a file over the size limit refuses the "
    "whole upload.",
    document_id="api",
    score=0.6,
)
LIMITS = DocPassage(
    "Ingestion",
    "Ingestion > Refusals",
    "| refusal | setting | answer |\n"
    "|---|---|---|\n"
    "| one uploaded file | MAX_UPLOAD_BYTES (20 MiB) | 413 too_large |\n"
    "| files per upload | 50 | 422 too_many_files |\n",
    document_id="ingestion",
    score=0.45,
)


def test_whats_the_biggest_file_is_answered_with_the_size() -> None:
    question = "what's the biggest single file i can upload before it gets bounced?"
    assert question_kind(question) == "value"
    assert "20 MiB" in answer_text(question, UPLOADS, LIMITS)


SEMANTIC = DocPassage(
    "Answer caching",
    "Answer caching > Semantic cache",
    "After an exact miss, the question is compared with the cached questions of the same "
    "tenant, collection, corpus version and answer settings, and the answer cache serves the "
    "nearest one above the threshold.",
    document_id="caching",
    score=0.6,
)
KEYS = DocPassage(
    "Answer caching",
    "Answer caching > Keys and invalidation",
    "The corpus version is a counter per collection in the database. Every ingest or delete "
    "of a document bumps it.",
    document_id="caching",
    score=0.58,
)


def test_a_definition_asked_in_passing_words_is_answered_by_the_sentence_stating_it() -> None:
    text = answer_text(
        "what's this corpus version thing the answer cache keeps talking about?", SEMANTIC, KEYS
    )
    assert text.startswith("The corpus version is a counter per collection")
