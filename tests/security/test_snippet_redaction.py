"""Key-shaped strings in a tenant's documents never leave in a citation snippet, over real
HTTP on the embedded defaults (extractive answers, in-process answer cache): not from
`/v1/chat` (whole or streamed), not from `/v1/chat/completions` (whole or streamed), not from
an answer served by the answer cache, not from a stored session. The snippets go through the
same redaction as the extractive answer (`AnswerGuard.redact`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, RunningServer, make_settings
from tests.e2e.conftest import (
    CREDENTIALS_DOC,
    DOC_PROVIDER_KEY,
    DOC_RAGOPS_KEY,
    read_sse,
    upload,
)

LEAKS = (DOC_RAGOPS_KEY, DOC_PROVIDER_KEY, DOC_RAGOPS_KEY[:16], DOC_PROVIDER_KEY[:16])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir: Path = tmp_path_factory.mktemp("snippets") / "var"
    running = RunningServer(make_settings(data_dir))
    try:
        live = running.start()
        with live.client() as client:
            response = upload(client, [("staging.md", CREDENTIALS_DOC, "text/markdown")])
            assert response.status_code == 200, response.text
        yield live
    finally:
        running.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def _no_key(text: str) -> None:
    for leak in LEAKS:
        assert leak not in text, f"{leak[:8]}... leaked"


def _redacted_snippets(found: list[dict[str, object]]) -> None:
    """The citations quote the credentials passage, with its keys replaced."""
    assert found, "the answer cites nothing"
    snippets = [str(c["snippet"]) for c in found]
    assert any("[redacted]" in s for s in snippets), snippets
    _no_key(json.dumps(found))


def test_chat_answer_and_its_citations_are_redacted_computed_and_cached(
    client: httpx.Client,
) -> None:
    question = {"question": "What is the staging deploy token?"}
    first = client.post("/v1/chat", json=question)
    assert first.status_code == 200, first.text
    assert first.headers["X-Cache"] == "miss"
    body = first.json()
    assert "[redacted]" in body["answer"]
    _redacted_snippets(body["citations"])
    _no_key(first.text)

    again = client.post("/v1/chat", json=question)  # the cache's entry: the fast path
    assert again.status_code == 200 and again.headers["X-Cache"] == "hit-exact"
    _redacted_snippets(again.json()["citations"])
    _no_key(again.text)

    stored = client.get(f"/v1/sessions/{body['session_id']}")
    assert stored.status_code == 200, stored.text
    _no_key(stored.text)
    answers = [m for m in stored.json()["messages"] if m["role"] == "assistant"]
    _redacted_snippets(answers[-1]["citations"])


def test_streamed_chat_citations_are_redacted(client: httpx.Client) -> None:
    response = client.post(
        "/v1/chat", json={"question": "Which mail provider key does staging use?", "stream": True}
    )
    assert response.status_code == 200 and response.headers["X-Cache"] == "miss"
    _no_key(response.text)
    event, done = read_sse(response)[-1]
    assert event == "done"
    _redacted_snippets(done["citations"])


@pytest.mark.parametrize("stream", [False, True])
def test_openai_compatible_citations_are_redacted(client: httpx.Client, stream: bool) -> None:
    question = (  # far apart in meaning from every other question: computed, not cached
        "How many days pass between rotations of the staging deploy token?"
        if stream
        else "Which team rotates the staging credentials?"
    )
    response = client.post(
        "/v1/chat/completions",
        json={
            "model": "default",
            "stream": stream,
            "messages": [{"role": "user", "content": question}],
        },
    )
    assert response.status_code == 200 and response.headers["X-Cache"] == "miss"
    _no_key(response.text)
    if stream:
        chunks = [json.loads(line[6:]) for line in response.text.splitlines()
                  if line.startswith("data: {")]  # fmt: skip
        found = next(c["citations"] for c in chunks if "citations" in c)
    else:
        found = response.json()["citations"]
    _redacted_snippets(found)
