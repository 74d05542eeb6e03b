"""How an answer was served, over real HTTP: `X-Cache` and the `cache` field on /v1/chat
(whole and streamed) and /v1/chat/completions, the admin clear, and the `ragops cache`
commands (clear beside a running server, warm from a YAML list)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    REDIS_URL,
    LiveServer,
    RunningServer,
    backend_settings,
    create_api_key,
    run_cli,
)
from tests.e2e.conftest import POOL_DOC, read_sse, upload

QUESTION = "How many connections does the pool keep open?"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("cache") / "var"
    with backend_settings("sqlite", data_dir) as settings:
        running = RunningServer(settings)
        try:
            live = running.start()
            with live.client() as client:
                response = upload(client, [("pool.md", POOL_DOC, "text/markdown")], "ops")
                assert response.status_code == 200, response.text
            yield live
        finally:
            running.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def chat(client: httpx.Client, question: str = QUESTION, **extra: object) -> httpx.Response:
    response = client.post("/v1/chat", json={"question": question, "collection": "ops", **extra})
    assert response.status_code == 200, response.text
    return response


def test_chat_says_how_it_was_served(client: httpx.Client) -> None:
    client.delete("/v1/admin/cache", params={"collection": "ops"})
    first, second = chat(client), chat(client)
    assert first.headers["X-Cache"] == first.json()["cache"] == "miss"
    assert second.headers["X-Cache"] == second.json()["cache"] == "hit-exact"
    assert second.json()["answer"] == first.json()["answer"]
    assert second.json()["citations"] == first.json()["citations"]

    streamed = chat(client, stream=True)
    assert streamed.headers["X-Cache"] == "hit-exact"
    events = read_sse(streamed)
    done = events[-1][1]
    assert events[-1][0] == "done" and done["cache"] == "hit-exact"
    assert "".join(d["text"] for e, d in events if e == "token") == done["answer"]


def test_openai_completions_say_how_they_were_served(client: httpx.Client) -> None:
    body = {
        "model": "ops",
        "messages": [{"role": "user", "content": "What does the pool grow to?"}],
    }
    first = client.post("/v1/chat/completions", json=body)
    second = client.post("/v1/chat/completions", json=body)
    assert first.status_code == second.status_code == 200, first.text
    assert first.headers["X-Cache"] == first.json()["ragops"]["cache"] == "miss"
    assert second.headers["X-Cache"] == second.json()["ragops"]["cache"] == "hit-exact"
    answer = second.json()["choices"][0]["message"]["content"]
    assert answer == first.json()["choices"][0]["message"]["content"]
    assert second.json()["citations"] == first.json()["citations"]

    streamed = client.post("/v1/chat/completions", json={**body, "stream": True})
    assert streamed.headers["X-Cache"] == "hit-exact"
    chunks = [
        json.loads(line[6:]) for line in streamed.text.splitlines() if line.startswith("data: {")
    ]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == answer and chunks[-1]["ragops"]["cache"] == "hit-exact"


def test_admin_clear(server: LiveServer, client: httpx.Client) -> None:
    chat(client)
    assert chat(client).json()["cache"] == "hit-exact"
    cleared = client.delete("/v1/admin/cache", params={"collection": "ops"})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["scopes"] == 1 and cleared.json()["collection"] == "ops"
    assert chat(client).json()["cache"] == "miss"

    assert client.delete("/v1/admin/cache", params={"collection": "Bad Name"}).status_code == 422
    chat_only = create_api_key(server.settings, scopes="chat")
    refused = client.delete("/v1/admin/cache", headers={"Authorization": f"Bearer {chat_only}"})
    assert refused.status_code == 403


def test_cli_clear_beside_the_running_server(server: LiveServer, client: httpx.Client) -> None:
    chat(client)
    assert chat(client).json()["cache"] == "hit-exact"
    result = run_cli(server.settings.data_dir, "cache", "clear", "--tenant", "default")
    assert "1 collection invalidated" in result.stdout
    assert chat(client).json()["cache"] == "miss"  # the server's in-process entry is unreachable
    # a clear from the command line is audited like the API's (runbook RagopsCacheHitRateLow
    # looks for it to explain a cold cache)
    events = run_cli(
        server.settings.data_dir, "audit-log", "--action", "admin.cache.clear", "--json"
    )
    clears = [json.loads(line) for line in events.stdout.splitlines() if line.strip()]
    from_cli = [e for e in clears if e["detail"].get("interface") == "cli"]
    assert [(e["tenant_id"], e["detail"]["scopes"]) for e in from_cli] == [("default", 1)]

    bad = run_cli(server.settings.data_dir, "cache", "clear", "-c", "Bad Name", check=False)
    assert bad.returncode != 0


def test_clearing_a_collection_that_does_not_exist_says_so(
    server: LiveServer, client: httpx.Client
) -> None:
    """A misspelt collection is not reported as cleared (and leaves no version row behind):
    the API answers 404 `collection_not_found`, as every route naming a collection does, and
    the CLI names what it did not find and exits 1."""
    name = f"nosuch-{uuid.uuid4().hex[:8]}"
    cleared = client.delete("/v1/admin/cache", params={"collection": name})
    assert cleared.status_code == 404, cleared.text
    assert cleared.json()["error"]["code"] == "collection_not_found"
    cli = run_cli(
        server.settings.data_dir, "cache", "clear", "-t", "default", "-c", name, check=False
    )
    assert cli.returncode == 1
    assert f"tenant default has no collection {name}: nothing cleared" in cli.stderr
    anywhere = run_cli(server.settings.data_dir, "cache", "clear", "-c", name, check=False)
    assert anywhere.returncode == 1 and f"no tenant has a collection {name}" in anywhere.stderr
    assert client.delete("/v1/admin/cache", params={"collection": "ops"}).json()["scopes"] == 1


def test_cli_warm_rejects_bad_files(tmp_path: Path) -> None:
    not_a_list = tmp_path / "questions.yaml"
    not_a_list.write_text("question: what?\n")
    result = run_cli(tmp_path / "var", "cache", "warm", str(not_a_list), check=False)
    assert result.returncode == 1 and "must hold a list" in result.stderr
    missing = run_cli(tmp_path / "var", "cache", "warm", str(tmp_path / "nope.json"), check=False)
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    binary = tmp_path / "questions.bin.yaml"
    binary.write_bytes(b"- \xaa\xff question\n")
    refused = run_cli(tmp_path / "var", "cache", "warm", str(binary), check=False)
    assert refused.returncode == 1
    assert f"cannot read {binary}: not UTF-8 text" in refused.stderr
    # the item with a bad collection is named
    named = tmp_path / "named.yaml"
    named.write_text("- first one\n- question: second one\n  collection: Bad Name\n")
    refused = run_cli(tmp_path / "var", "cache", "warm", str(named), check=False)
    assert refused.returncode == 1 and f"item 2 of {named}: collection names" in refused.stderr


def test_warm_files_are_read_by_libyaml_and_unsafe_tags_still_refused(tmp_path: Path) -> None:
    """A 200,000-question file took 19 s to parse in pure Python: libyaml's safe loader reads
    it, and still refuses a tag that would run code."""
    import yaml

    from ragops.cli.cache import read_questions, yaml_loader

    assert yaml.__with_libyaml__ and yaml_loader() is yaml.CSafeLoader
    unsafe = tmp_path / "unsafe.yaml"
    marker = tmp_path / "ran"
    unsafe.write_text(f"- !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ValueError, match="is not valid yaml: could not determine a constructor"):
        read_questions(unsafe)
    assert not marker.exists()
    plain = tmp_path / "plain.yaml"
    plain.write_text("- first one\n- question: second one\n  collection: ops\n")
    assert read_questions(plain) == [
        {"question": "first one"},
        {"question": "second one", "collection": "ops"},
    ]


def test_cli_warm_names_a_refused_question_without_echoing_it_whole(tmp_path: Path) -> None:
    """A question over the length limit is skipped by its number and its first characters:
    a runaway line in the file does not flood the terminal."""
    questions = tmp_path / "questions.json"
    questions.write_text(json.dumps(["x" * 100_000]))
    result = run_cli(tmp_path / "var", "cache", "warm", str(questions), check=False)
    assert result.returncode == 1
    assert "skipped item 1" in result.stdout and "100000 characters" in result.stdout
    assert len(result.stdout) < 2_000, result.stdout[:300]
    assert "0 cached, 0 already cached" in result.stdout and "1 failed" in result.stdout


def test_cli_warm_fills_the_shared_cache(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    env = {"RAGOPS_REDIS_URL": REDIS_URL}
    tenant = f"warm{uuid.uuid4().hex[:8]}"
    source = tmp_path / "pool.md"
    source.write_bytes(POOL_DOC)
    run_cli(data_dir, "ingest", str(source), "--tenant", tenant, env=env)
    questions = tmp_path / "questions.yaml"
    questions.write_text(f"- {QUESTION}\n- question: What does the pool grow to?\n")
    warmed = run_cli(data_dir, "cache", "warm", str(questions), "-t", tenant, env=env)
    assert "2 questions: 2 cached, 0 already cached" in warmed.stdout
    again = run_cli(data_dir, "cache", "warm", str(questions), "-t", tenant, env=env)
    assert "0 cached, 2 already cached" in again.stdout
    asked = run_cli(data_dir, "ask", QUESTION, "--json", "-t", tenant, env=env)
    assert json.loads(asked.stdout)["cache"] == "hit-exact"


FOREIGN = "How do I size the Kafka consumer pool?"
"""Close to the pool page ("pool", "size") but about a product the collection never names."""


def test_completions_answer_a_question_as_chat_does(client: httpx.Client) -> None:
    """Both routes take the same path (lookups, retrieval, scope check): a question about
    something the collection never mentions is refused on each, and a question answered on
    /v1/chat is the same answer, from the same cache entry, on /v1/chat/completions (with an
    LLM, `test_llm_and_openai_api` checks that the refusal asks no model on either route)."""
    from ragops.chat.extractive import NOT_FOUND_ANSWER

    asked = chat(client, FOREIGN).json()
    assert asked["answer"] == NOT_FOUND_ANSWER and asked["citations"] == []
    body = {"model": "ops", "messages": [{"role": "user", "content": FOREIGN}]}
    completed = client.post("/v1/chat/completions", json=body)
    assert completed.status_code == 200, completed.text
    assert completed.json()["choices"][0]["message"]["content"] == NOT_FOUND_ANSWER
    assert completed.json()["citations"] == []

    question = "How long does a request wait for a free connection?"
    answered = chat(client, question).json()
    body = {"model": "ops", "messages": [{"role": "user", "content": question}]}
    completed = client.post("/v1/chat/completions", json=body)
    assert completed.headers["X-Cache"] == "hit-exact"
    assert completed.json()["choices"][0]["message"]["content"] == answered["answer"]
