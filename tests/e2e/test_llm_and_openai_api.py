"""The LLM path and the OpenAI-compatible API, over real sockets: ragops served by uvicorn,
its LLM a fake OpenAI-compatible server on loopback, and the official `openai` client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import LiveServer, RunningServer, make_settings
from tests.e2e.conftest import POOL_DOC, ROLLBACK_DOC, read_sse, upload
from tests.fakes.llm import FakeLLMServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, llm: FakeLLMServer) -> Iterator[LiveServer]:
    data_dir: Path = tmp_path_factory.mktemp("llm") / "var"
    settings = make_settings(
        data_dir,
        llm_base_url=llm.base_url,
        llm_api_key="sk-test-secret-key-0123456789",
        llm_model="fake-model",
        llm_timeout_seconds=3,
        answer_cache=False,  # these tests ask the same questions of a changing fake LLM
    )
    running = RunningServer(settings)
    try:
        live = running.start()
        with live.client() as client:
            response = upload(
                client,
                [
                    ("pool.md", POOL_DOC, "text/markdown"),
                    ("rollback.md", ROLLBACK_DOC, "text/markdown"),
                ],
            )
            assert response.status_code == 200, response.text
        yield live
    finally:
        running.stop()


@pytest.fixture
def client(server: LiveServer, llm: FakeLLMServer) -> Iterator[httpx.Client]:
    llm.reset()
    with server.client() as c:
        yield c


def test_generated_answer_with_checked_citations(client: httpx.Client, llm: FakeLLMServer) -> None:
    body = client.post("/v1/chat", json={"question": "How do I roll back a bad release?"}).json()
    assert body["mode"] == "generated"
    assert body["answer"].endswith("[1]")
    assert body["citations"][0]["index"] == 1 and body["citations"][0]["title"] == "Rollback"
    prompt = "\n".join(m["content"] for m in llm.chat_requests[-1]["messages"])
    assert "revert the commit" in prompt and "How do I roll back a bad release?" in prompt
    assert llm.chat_requests[-1]["model"] == "fake-model"


def test_citations_of_passages_not_retrieved_are_removed(
    client: httpx.Client, llm: FakeLLMServer
) -> None:
    llm.set_answer("Revert the commit [1]. Also see [9].")
    body = client.post("/v1/chat", json={"question": "How do I roll back a bad release?"}).json()
    assert "[9]" not in body["answer"] and "[1]" in body["answer"]
    assert [c["index"] for c in body["citations"]] == [1]


def test_streamed_tokens_are_the_checked_answer(
    client: httpx.Client, server: LiveServer, llm: FakeLLMServer
) -> None:
    """A marker naming no retrieved passage never reaches a stream's client: the tokens add
    up to the checked answer, on /v1/chat and on the OpenAI-compatible stream alike."""
    llm.set_answer("Revert the commit [1]. Also see [9].")
    response = client.post(
        "/v1/chat", json={"question": "How do I roll back a bad release?", "stream": True}
    )
    events = read_sse(response)
    tokens = "".join(d["text"] for e, d in events if e == "token")
    done = events[-1][1]
    assert tokens == done["answer"] == "Revert the commit [1]. Also see."
    assert [c["index"] for c in done["citations"]] == [1]

    stream = _openai_client(server).chat.completions.create(
        model="default",
        stream=True,
        messages=[{"role": "user", "content": "How do I roll back a bad release?"}],
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert streamed == "Revert the commit [1]. Also see."


def test_streamed_generated_answer(client: httpx.Client) -> None:
    response = client.post(
        "/v1/chat", json={"question": "How do I roll back a bad release?", "stream": True}
    )
    events = read_sse(response)
    tokens = "".join(d["text"] for e, d in events if e == "token")
    done = events[-1]
    assert done[0] == "done" and done[1]["mode"] == "generated"
    assert tokens == done[1]["answer"] and len([e for e, _ in events if e == "token"]) > 1


def test_llm_failure_falls_back_to_an_extractive_answer(
    client: httpx.Client, llm: FakeLLMServer
) -> None:
    llm.fail_next(500, n=5)
    body = client.post("/v1/chat", json={"question": "How long does a request wait?"}).json()
    assert body["mode"] == "extractive"
    assert body["fallback_reason"].startswith("llm_unavailable")
    assert "sk-test-secret" not in body["fallback_reason"]
    assert "thirty seconds" in body["answer"] and body["citations"]


def test_llm_dropping_mid_stream_resets_to_extractive(
    client: httpx.Client, llm: FakeLLMServer
) -> None:
    llm.fail_next("drop", n=3)
    response = client.post(
        "/v1/chat", json={"question": "How long does a request wait?", "stream": True}
    )
    events = read_sse(response)
    kinds = [e for e, _ in events]
    assert "reset" in kinds
    after = kinds[kinds.index("reset") + 1 :]
    tokens = "".join(d["text"] for e, d in events[kinds.index("reset") + 1 :] if e == "token")
    assert after[-1] == "done" and events[-1][1]["mode"] == "extractive"
    assert tokens == events[-1][1]["answer"]


def test_nothing_relevant_means_no_llm_call(client: httpx.Client, llm: FakeLLMServer) -> None:
    body = client.post(
        "/v1/chat", json={"question": "What is the boiling point of tungsten in kelvin?"}
    ).json()
    assert body["citations"] == []
    assert llm.chat_requests == []


def test_out_of_scope_question_means_no_llm_call(client: httpx.Client, llm: FakeLLMServer) -> None:
    """The scope check runs with an LLM too: a question close to the pool page in words and
    meaning, about a product the collection never names, is refused without asking the
    model, on both routes; the same question in the collection's words is generated."""
    foreign = "How do I size the Kafka consumer pool?"
    body = client.post("/v1/chat", json={"question": foreign}).json()
    assert body["citations"] == [] and body["mode"] == "extractive"
    completion = client.post(
        "/v1/chat/completions",
        json={"model": "default", "messages": [{"role": "user", "content": foreign}]},
    )
    assert completion.status_code == 200, completion.text
    assert completion.json()["citations"] == []
    assert llm.chat_requests == []
    body = client.post("/v1/chat", json={"question": "How do I size the connection pool?"}).json()
    assert body["mode"] == "generated" and body["citations"]
    assert len(llm.chat_requests) == 1


def _openai_client(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key=server.api_key, max_retries=0)


def test_official_client_lists_collections_as_models(server: LiveServer) -> None:
    models = _openai_client(server).models.list()
    assert "default" in [m.id for m in models.data]


def test_official_client_completion_carries_citations(server: LiveServer) -> None:
    reply = _openai_client(server).chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": "How do I roll back a bad release?"}],
    )
    assert reply.choices[0].message.content
    extra = reply.model_extra or {}
    assert extra["citations"][0]["title"] == "Rollback"
    assert extra["ragops"]["mode"] == "generated"
    assert reply.usage is not None and reply.usage.total_tokens > 0


def test_official_client_streaming(server: LiveServer) -> None:
    stream = _openai_client(server).chat.completions.create(
        model="default",
        messages=[
            {"role": "user", "content": "How big is the pool?"},
            {"role": "assistant", "content": "It keeps five connections [1]."},
            {"role": "user", "content": "How do I roll back a bad release?"},
        ],
        stream=True,
        stream_options={"include_usage": True},
    )
    parts, citations, usage = [], None, None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
        extra = chunk.model_extra or {}
        if "citations" in extra:
            citations = extra["citations"]
        if chunk.usage is not None:
            usage = chunk.usage
    assert "".join(parts).endswith("[1]")
    assert citations and citations[0]["title"] == "Rollback"
    assert usage is not None


def test_official_client_unknown_model_is_404(server: LiveServer) -> None:
    with pytest.raises(openai.NotFoundError):
        _openai_client(server).chat.completions.create(
            model="no-such-collection", messages=[{"role": "user", "content": "hi"}]
        )


def test_completion_without_a_user_question_is_422(client: httpx.Client) -> None:
    response = client.post(
        "/v1/chat/completions",
        json={"model": "default", "messages": [{"role": "system", "content": "be brief"}]},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "no_question"


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ([{"role": "user", "content": "Pool?"}, {"role": "assistant", "content": "Five"}], 1),
        (
            [
                {"role": "user", "content": "Pool?"},
                {"role": "tool", "content": "{}", "tool_call_id": "call_1"},
            ],
            1,
        ),
        (
            [
                {"role": "user", "content": "Pool?"},
                {"role": "tool", "content": "{}", "tool_call_id": "call_1"},
                {"role": "system", "content": "be brief"},
            ],
            1,
        ),
    ],
)
def test_a_conversation_must_end_with_the_users_question(
    server: LiveServer, llm: FakeLLMServer, messages: list[dict[str, str]], field: int
) -> None:
    """A trailing assistant message (a continuation to write) and a trailing tool result (the
    answer to a tool call ragops never makes) are refused alike, before any work, with a 422
    naming the message's role, which the official client raises with the server's message;
    an instruction after the question does not count."""
    llm.reset()
    with pytest.raises(openai.UnprocessableEntityError) as refused:
        _openai_client(server).chat.completions.create(model="default", messages=messages)
    assert refused.value.code == "no_question"
    assert f"messages[{field}].role: the conversation must end with a user message" in str(
        refused.value
    )
    assert llm.chat_requests == []
    ending = [
        {"role": "user", "content": "How big is the pool?"},
        {"role": "system", "content": "x"},
    ]
    reply = _openai_client(server).chat.completions.create(model="default", messages=ending)
    assert reply.choices[0].message.content


def test_official_client_retrieves_one_model(server: LiveServer) -> None:
    client = _openai_client(server)
    assert client.models.retrieve("default").id == "default"
    with pytest.raises(openai.NotFoundError) as missing:
        client.models.retrieve("no-such-collection")
    assert missing.value.status_code == 404
    assert "collection_not_found" in missing.value.response.text


def test_more_than_one_choice_is_refused_naming_n(client: httpx.Client) -> None:
    response = client.post(
        "/v1/chat/completions",
        json={"model": "default", "n": 2, "messages": [{"role": "user", "content": "Pool?"}]},
    )
    assert response.status_code == 422, response.text
    assert "n" in [str(field) for field in response.json()["error"]["details"][0]["loc"]]


QUESTION = [{"role": "user", "content": "How big is the pool?"}]


def test_official_client_request_fields(server: LiveServer, client: httpx.Client) -> None:
    """The fields of OpenAI's request a client sends: `user`, `max_tokens` and
    `max_completion_tokens` are taken (checked, the answer whole); `response_format` text is
    taken and JSON refused, naming the field, as the official client raises it."""
    official = _openai_client(server)
    for options in (
        {"user": "end-user-7", "max_tokens": 16},
        {"max_completion_tokens": 16, "response_format": {"type": "text"}},
    ):
        reply = official.chat.completions.create(model="default", messages=QUESTION, **options)
        assert (
            reply.choices[0].message.content
            == "The pool keeps five connections open and grows to twenty. [1]"
        )
    for response_format in ({"type": "json_object"}, {"type": "json_schema", "json_schema": {}}):
        with pytest.raises(openai.UnprocessableEntityError) as refused:
            official.chat.completions.create(
                model="default",
                messages=QUESTION,
                response_format=response_format,
            )
        assert refused.value.code == "validation_error"
        assert "response_format.type: only 'text' is supported" in str(refused.value)
    for field, value in [
        ("max_tokens", "many"),
        ("max_tokens", 0),
        ("max_completion_tokens", True),
        ("user", 7),
        ("stream_options", {"include_usage": "sometimes"}),
    ]:
        body = {"model": "default", "messages": QUESTION, field: value}
        response = client.post("/v1/chat/completions", json=body)
        assert response.status_code == 422, (field, value, response.text)
        assert response.json()["error"]["message"].startswith(f"{field}"), response.text


def test_official_client_stream_usage_only_when_asked(server: LiveServer) -> None:
    official = _openai_client(server)
    plain = list(official.chat.completions.create(model="default", messages=QUESTION, stream=True))
    assert all(chunk.usage is None and chunk.choices for chunk in plain)
    assert plain[-1].choices[0].finish_reason == "stop"
    counted = list(
        official.chat.completions.create(
            model="default",
            messages=QUESTION,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    last = counted[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens > 0
    assert all(chunk.usage is None for chunk in counted[:-1])
    assert counted[-2].choices[0].finish_reason == "stop"


def test_official_client_raises_each_error_with_the_servers_message(
    server: LiveServer, serve_app: Any, tmp_path: Path
) -> None:
    """401, 404, 422 and 429 become the client's own exception classes, each carrying the
    server's code and message (what a caller logs or shows)."""
    base = server.base_url + "/v1"
    stranger = openai.OpenAI(base_url=base, api_key="rgo_not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as unauthorized:
        stranger.models.list()
    assert unauthorized.value.code == "unauthorized"
    assert "the API key is not valid" in unauthorized.value.message
    official = _openai_client(server)
    with pytest.raises(openai.NotFoundError) as missing:
        official.chat.completions.create(model="no-such", messages=QUESTION, stream=True)
    assert missing.value.code == "collection_not_found"
    assert "collection 'no-such' not found" in missing.value.message
    with pytest.raises(openai.UnprocessableEntityError) as invalid:
        official.chat.completions.create(model="default", messages=QUESTION, n=2)
    assert invalid.value.code == "validation_error" and "n: " in invalid.value.message
    for content, code, words in [
        ("  ", "empty_question", "messages[1].content: the question is empty"),
        ([{"type": "image_url", "image_url": {"url": "data:,"}}], "empty_question", "messages[1]"),
        ("x" * 2001, "question_too_long", "messages[1].content: the question is 2001 characters"),
    ]:
        with pytest.raises(openai.UnprocessableEntityError) as unasked:
            official.chat.completions.create(
                model="default",
                messages=[
                    {"role": "system", "content": "brief"},
                    {"role": "user", "content": content},
                ],
            )
        assert unasked.value.code == code and words in unasked.value.message

    limited = serve_app(make_settings(tmp_path / "var", rate_limit_chat="1/minute"))
    tight = openai.OpenAI(base_url=limited.base_url + "/v1", api_key=limited.api_key, max_retries=0)
    tight.chat.completions.create(model="default", messages=QUESTION)
    with pytest.raises(openai.RateLimitError) as refused:
        tight.chat.completions.create(model="default", messages=QUESTION)
    assert refused.value.code == "rate_limited" and refused.value.message
    assert int(refused.value.response.headers["Retry-After"]) > 0
