"""A sentence answer reads its sentences in their context: a sentence counts with its neighbours
in the paragraph or list item, a definition goes on with the sentence after it, a term glossed
after a colon is defined by that line, a rate question gets the figure per unit of time, and a
question asking what to check or look at is answered with the steps of the diagnosis."""

from __future__ import annotations

from ragops.chat.definitions import defined_terms, defines
from ragops.chat.intent import asked_section, question_kind
from tests.unit.chat.passages import DocPassage, answer_text

MAINTENANCE = DocPassage(
    "Deployment",
    "Deployment > Database maintenance",
    "Two commands keep the database small.\n\n"
    "- ragops db archive moves chat sessions older than 30 days to archive tables. "
    "Safe while the service runs.\n"
    "- ragops db vacuum rewrites the tables and locks each one while it runs.\n",
    document_id="deployment",
    score=0.5,
)
SETTINGS = DocPassage(
    "Database runbook",
    "Database runbook",
    "The db commands use the settings of the service; pool figures go through a running "
    "server's admin API.",
    document_id="runbook",
    score=0.6,
)


def test_a_sentence_counts_with_its_neighbour_in_the_same_list_item() -> None:
    # the archive sentence names the command, its neighbour says when it may run: read
    # together they answer, ahead of a sentence that only shares "service" and "run"
    text = answer_text(
        "Can I run ragops db archive while the service is up?", SETTINGS, MAINTENANCE
    )
    assert text.startswith("ragops db archive moves chat sessions")


CACHE_KEYS = DocPassage(
    "Answer caching",
    "Answer caching > Keys and invalidation",
    "The corpus version is a counter per tenant and collection in the database. "
    "Every ingest or delete of a document bumps it, so older entries are never served.",
    document_id="caching",
    score=0.5,
)
SEMANTIC = DocPassage(
    "Answer caching",
    "Answer caching > Semantic cache",
    "After an exact miss the answer cache compares the question with the cached questions of "
    "the same corpus version and answer settings.",
    document_id="caching",
    score=0.6,
)


def test_a_definition_goes_on_with_the_next_sentence_of_its_paragraph() -> None:
    text = answer_text(
        "what's this corpus version thing the answer cache keeps talking about?",
        SEMANTIC,
        CACHE_KEYS,
    )
    assert text.startswith("The corpus version is a counter per tenant and collection")
    assert "bumps it" in text  # what changes it, not the other section's use of it
    assert "exact miss" not in text


BREAKER = DocPassage(
    "Generation",
    "Generation > Circuit breakers",
    "A provider's breaker has three states:\n\n"
    "- closed (0): calls go through;\n"
    "- open (2): after 3 consecutive failed calls the provider is skipped;\n"
    "- half-open (1): after the reset wait the next question sends one probe call.\n",
    document_id="generation",
    score=0.45,
)
ALERT = DocPassage(
    "RagopsLLMCircuitOpen",
    "RagopsLLMCircuitOpen > Meaning",
    "One provider's breaker has been open or half-open on an instance for 5 minutes.",
    document_id="alert",
    score=0.5,
)


def test_the_state_a_question_asks_about_is_what_it_defines() -> None:
    question = "What does it mean when the breaker for our language model provider is half-open?"
    assert question_kind(question) == "definition"
    assert defined_terms(question) == {"half-open", "half", "open"}
    assert defined_terms('what does it mean that an instance "drains"?') == {"drain"}
    # a question put after a scene-setting sentence is read from its asking sentence
    assert defined_terms('I keep seeing "collection". What is a collection?') == {"collect"}


def test_a_term_glossed_after_a_colon_is_defined_by_that_line() -> None:
    half_open = defined_terms("What does it mean when the breaker is half-open?")
    assert defines("half-open (1): after the reset wait one probe call is sent.", half_open)
    assert not defines("closed (0): calls go through.", half_open)
    text = answer_text(
        "What does it mean when the breaker for our language model provider is half-open?",
        ALERT,
        BREAKER,
    )
    assert text.startswith("half-open (1): after the reset wait the next question sends")


LIMITS = DocPassage(
    "HTTP hardening",
    "HTTP hardening > Rate limits",
    "| limit | setting (default) | counts |\n"
    "|---|---|---|\n"
    "| chat | RAGOPS_RATE_LIMIT_CHAT (60/minute) | the questions of one API key |\n"
    "| ingest | RAGOPS_RATE_LIMIT_INGEST (20/minute) | the API key |\n",
    document_id="hardening",
    score=0.5,
)
PATH = DocPassage(
    "Architecture",
    "Architecture > The path of one question",
    "The API key is checked (401 without a valid key, 403 without the chat scope); then the "
    "key's own limit applies (429 with Retry-After).",
    document_id="architecture",
    score=0.55,
)


def test_a_question_per_unit_of_time_gets_the_rate() -> None:
    text = answer_text(
        "How many chat questions per minute can a single key ask before it gets a 429?",
        PATH,
        LIMITS,
    )
    assert text.startswith("chat: setting (default): RAGOPS_RATE_LIMIT_CHAT (60/minute)")


def test_a_question_asking_what_to_check_or_look_at_asks_for_the_diagnosis() -> None:
    checks = "The pods look healthy but no request came in for an hour. What should I check?"
    look = "Prometheus cannot scrape one instance. What should I look at first?"
    for question in (checks, look):
        assert question_kind(question) == "procedure"
        assert asked_section(question) == "diagnosis"
    assert question_kind("What can I change to bring the latency down?") == "procedure"
    assert question_kind("What should I set the pool size to?") != "procedure"
    diagnosis = DocPassage(
        "RagopsNoTraffic",
        "RagopsNoTraffic > Diagnosis",
        "1. From outside: call the version endpoint and one authenticated route.\n"
        "2. Check DNS and the load balancer's target health.\n",
        document_id="notraffic",
        score=0.3,
    )
    kubernetes = DocPassage(
        "Deployment",
        "Deployment > Kubernetes",
        "The manifest holds the Deployment with two pods, their probes and a request of one "
        "CPU per pod; healthy pods get traffic from the Service.",
        document_id="deployment",
        score=0.4,
    )
    text = answer_text(checks, kubernetes, diagnosis)
    assert text.startswith("Diagnosis (RagopsNoTraffic)")
    assert "2. Check DNS and the load balancer's target health." in text


def test_a_second_of_something_is_no_rate() -> None:
    # "a second instance" counts instances: the question asks for a duration, not a rate
    start = DocPassage(
        "Scaling",
        "Scaling > Adding an instance",
        "A new instance starts serving within 30 s, once its readiness probe passes.",
        document_id="scaling",
        score=0.5,
    )
    limits = DocPassage(
        "Scaling",
        "Scaling > Limits per instance",
        "Another instance starts serving at most 60/minute questions per key.",
        document_id="scaling",
        score=0.5,
    )
    text = answer_text("How long does a second instance take to start serving?", limits, start)
    assert text.startswith("A new instance starts serving within 30 s")
