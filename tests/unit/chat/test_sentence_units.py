"""Sentence units of the extractive answerer: technical prose starts sentences in lower case
(a command, a setting, a file name), and such a sentence is a unit of its own."""

from __future__ import annotations

from ragops.chat.extractive import ExtractiveAnswerer
from ragops.chat.prompts import TextPassage
from ragops.chat.units import passage_units, sentences_of


def test_a_sentence_opening_with_a_command_is_split_off() -> None:
    text = "It prints the URL. ragops stack status shows each instance. Then it stops."
    assert sentences_of(text) == [
        "It prints the URL.",
        "ragops stack status shows each instance.",
        "Then it stops.",
    ]


def test_abbreviations_still_do_not_end_a_sentence_before_lower_case() -> None:
    text = "Use a driver, e.g. asyncpg or psycopg, i.e. one that pools. See fig. three, vs. two."
    assert sentences_of(text) == [
        "Use a driver, e.g. asyncpg or psycopg, i.e. one that pools.",
        "See fig. three, vs. two.",
    ]


_STACK = TextPassage(
    "Command line",
    "Command line > Several instances on one machine",
    "# Several instances on one machine\n\n"
    "ragops stack up --instances N --run-dir DIR starts N instances under a process supervisor "
    "behind a load balancer, sharing the database of RAGOPS_DATABASE_URL, the vector store and "
    "the cache of RAGOPS_REDIS_URL; it migrates the schema once, picks free loopback ports for "
    "the instances, writes the supervisor's and the balancer's configuration under the run "
    "directory, waits until every instance reports ready and prints the load balancer's URL "
    "for the clients to use, together with the path of each instance's log file and the "
    "command that stops the stack again. ragops stack restart restarts them one at a time, so "
    "none fails a request. ragops stack down stops everything, each instance draining first.",
)


def test_a_lower_case_sentence_deep_in_a_long_paragraph_is_quoted() -> None:
    units = [u.text for u in passage_units(1, _STACK.text)]
    assert "ragops stack restart restarts them one at a time, so none fails a request." in units
    answer = ExtractiveAnswerer().answer_now(
        "How do I restart the instances one at a time?", [_STACK]
    )
    assert "ragops stack restart restarts them one at a time" in answer.text
    assert answer.cited == (1,)


def test_a_quoted_question_or_an_ellipsis_does_not_end_a_sentence_before_lower_case() -> None:
    text = (
        'A user asks "what now?" and gets the steps. It lists rows (\u2026) and stops... then ends.'
    )
    assert sentences_of(text) == [
        'A user asks "what now?" and gets the steps.',
        "It lists rows (\u2026) and stops... then ends.",
    ]


_PROBE = TextPassage(
    "Observability",
    "Observability > Probes > GET /readyz: readiness",
    "Point the readiness probe here. It answers 200 when this instance may take traffic.\n\n"
    "- Dependencies. The database, the vector store, Redis and the LLM provider are checked "
    "concurrently, each with a timeout.\n"
    "- Caching. Results are reused for five seconds and concurrent probes share one check, so "
    "a dependency sees at most one check per interval.\n",
)


def test_a_list_item_label_heads_the_sentences_of_its_item() -> None:
    units = passage_units(1, _PROBE.text)
    labelled = [u for u in units if u.kind == "sentence" and u.lead]
    assert [(u.lead, u.text.split()[1]) for u in labelled] == [
        ("Dependencies", "database,"),
        ("Caching", "are"),
    ]
    # the label's words count as the sentence's own: "which dependencies ... check?" finds
    # the sentence of the Dependencies item, not the one of Caching that names a dependency
    first = [u for u in units if u.kind == "sentence" and u.text.startswith("Dependencies")]
    assert first and not first[0].lead  # the label itself heads nothing
