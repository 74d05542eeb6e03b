"""The chat and document API over real HTTP, on SQLite and on PostgreSQL (with the embedded
vector store), and on PostgreSQL holding the vectors too (pgvector, one database)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ragops.config import Settings
from tests.conftest import (
    BACKENDS,
    LiveServer,
    RunningServer,
    backend_settings,
    pgvector_settings,
)
from tests.e2e.conftest import GARDEN_DOC, POOL_DOC, ROLLBACK_DOC, read_sse, upload

LIMITS = {"max_question_chars": 200, "max_upload_bytes": 200_000, "max_request_bytes": 400_000}


@pytest.fixture(scope="module", params=[*BACKENDS, "pgvector"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The app on SQLite, on a fresh PostgreSQL database, then on a fresh database of the
    pgvector server holding documents and vectors: every test runs on each."""
    data_dir: Path = tmp_path_factory.mktemp("api") / "var"
    if request.param == "pgvector":
        pg = request.getfixturevalue("pgvector_server")
        with pgvector_settings(pg, data_dir, **LIMITS) as settings:
            yield from _serve(settings)
        return
    with backend_settings(request.param, data_dir, **LIMITS) as settings:
        yield from _serve(settings)


def _serve(settings: Settings) -> Iterator[LiveServer]:
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
                collection="ops",
            )
            assert response.status_code == 200, response.text
        yield live
    finally:
        running.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def _sources(client: httpx.Client) -> dict[str, str]:
    items = client.get("/v1/documents", params={"limit": 500}).json()["items"]
    return {item["id"]: item["source"] for item in items}


def test_answer_cites_the_document_that_holds_it(client: httpx.Client) -> None:
    response = client.post(
        "/v1/chat",
        json={
            "question": "How long does a request wait for a free connection?",
            "collection": "ops",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == "extractive"
    assert "thirty seconds" in body["answer"]
    sources = _sources(client)
    assert [sources[c["document_id"]] for c in body["citations"]][0] == "pool.md"
    assert body["citations"][0]["section"].endswith("Timeouts")
    assert body["request_id"] == response.headers["x-request-id"]
    assert set(body["timings"]) == {"embed_ms", "retrieve_ms", "generate_ms", "total_ms"}
    assert body["timings"]["total_ms"] >= body["timings"]["retrieve_ms"]


def test_request_id_is_taken_from_the_caller(client: httpx.Client) -> None:
    response = client.post(
        "/v1/chat",
        json={"question": "How do I roll back?", "collection": "ops"},
        headers={"X-Request-ID": "trace-abc-123"},
    )
    assert response.headers["x-request-id"] == "trace-abc-123"
    assert response.json()["request_id"] == "trace-abc-123"
    unsafe = client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert unsafe.headers["x-request-id"] != "bad id\twith spaces"


def test_follow_up_uses_the_session_and_is_stored(client: httpx.Client) -> None:
    first = client.post(
        "/v1/chat", json={"question": "How do I roll back a bad release?", "collection": "ops"}
    ).json()
    follow = client.post(
        "/v1/chat",
        json={"question": "And with image tags?", "session_id": first["session_id"]},
    )
    assert follow.status_code == 200, follow.text
    assert follow.json()["session_id"] == first["session_id"]
    assert "DOCKER_IMAGE_TAG" in follow.json()["answer"]
    session = client.get(f"/v1/sessions/{first['session_id']}").json()
    assert [m["role"] for m in session["messages"]] == ["user", "assistant"] * 2
    assert session["collection"] == "ops"
    assert session["messages"][1]["citations"][0]["title"] == "Rollback"


def test_streamed_answer_sends_tokens_then_the_whole_response(client: httpx.Client) -> None:
    response = client.post(
        "/v1/chat",
        json={
            "question": "How many connections does the pool keep open?",
            "collection": "ops",
            "stream": True,
        },
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = read_sse(response)
    assert events[0][0] == "start" and events[-1][0] == "done"
    tokens = "".join(data["text"] for event, data in events if event == "token")
    done = events[-1][1]
    assert tokens == done["answer"]
    assert done["citations"] and done["session_id"] == events[0][1]["session_id"]
    stored = client.get(f"/v1/sessions/{done['session_id']}").json()
    assert stored["messages"][-1]["content"] == done["answer"]


def test_feedback_on_answers_only(client: httpx.Client) -> None:
    answer = client.post("/v1/chat", json={"question": "How do I roll back?", "collection": "ops"})
    message_id = answer.json()["message_id"]
    first = client.post(f"/v1/messages/{message_id}/feedback", json={"rating": "down"})
    assert first.status_code == 201
    second = client.post(
        f"/v1/messages/{message_id}/feedback", json={"rating": "up", "comment": "clear"}
    )
    assert second.status_code == 201
    assert second.json()["id"] == first.json()["id"] and second.json()["rating"] == "up"
    session = client.get(f"/v1/sessions/{answer.json()['session_id']}").json()
    question_id = session["messages"][0]["id"]
    refused = client.post(f"/v1/messages/{question_id}/feedback", json={"rating": "up"})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "not_an_answer"
    unknown = client.post("/v1/messages/nope/feedback", json={"rating": "up"})
    assert unknown.status_code == 404
    bad = client.post(f"/v1/messages/{message_id}/feedback", json={"rating": "meh"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"


def test_delete_session(client: httpx.Client) -> None:
    answer = client.post("/v1/chat", json={"question": "How do I roll back?", "collection": "ops"})
    session_id = answer.json()["session_id"]
    assert client.delete(f"/v1/sessions/{session_id}").status_code == 204
    assert client.get(f"/v1/sessions/{session_id}").status_code == 404
    assert client.delete(f"/v1/sessions/{session_id}").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"question": ""}, 422, "empty_question"),
        ({"question": "   \n "}, 422, "empty_question"),
        ({"question": "x" * 201}, 422, "question_too_long"),
        ({"question": "hi", "session_id": "no-such-session"}, 404, "session_not_found"),
        ({"question": "hi", "collection": "no-such"}, 404, "collection_not_found"),
        ({"question": "hi", "collection": "../etc"}, 422, "invalid_collection"),
        ({"question": 42}, 422, "validation_error"),
        ({"question": "hi", "surprise": 1}, 422, "validation_error"),
        ({}, 422, "validation_error"),
    ],
)
def test_bad_chat_input_gets_a_precise_error(
    client: httpx.Client, body: dict[str, object], status: int, code: str
) -> None:
    response = client.post("/v1/chat", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"] and error["request_id"] == response.headers["x-request-id"]


def test_malformed_json_is_422_not_500(client: httpx.Client) -> None:
    response = client.post(
        "/v1/chat", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert "Traceback" not in response.text


def test_body_over_the_limit_is_413(client: httpx.Client) -> None:
    response = client.post("/v1/chat", json={"question": "x" * 500_000})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


def test_document_lifecycle_over_http(client: httpx.Client) -> None:
    created = upload(client, [("garden.md", GARDEN_DOC, "text/markdown")], collection="garden")
    assert created.status_code == 200
    outcome = created.json()["results"][0]
    assert outcome["status"] == "created"
    document_id = outcome["document"]["id"]
    # a new document was last updated when it was created, not a moment before
    assert outcome["document"]["updated_at"] == outcome["document"]["created_at"]

    again = upload(client, [("garden.md", GARDEN_DOC, "text/markdown")], collection="garden")
    assert again.json()["results"][0]["status"] == "unchanged"

    changed = GARDEN_DOC.replace(b"six hours", b"eight hours")
    updated = upload(client, [("garden.md", changed, "text/markdown")], collection="garden")
    result = updated.json()["results"][0]
    assert result["status"] == "updated"
    assert result["document"]["id"] == document_id and result["document"]["version"] == 2
    assert result["document"]["created_at"] == outcome["document"]["created_at"]
    assert result["document"]["updated_at"] > result["document"]["created_at"]

    answer = client.post(
        "/v1/chat",
        json={"question": "How many hours of sun do tomatoes need?", "collection": "garden"},
    ).json()
    assert "eight hours" in answer["answer"] and "six hours" not in answer["answer"]

    collections = {c["name"]: c["document_count"] for c in client.get("/v1/collections").json()}
    assert collections["garden"] == 1
    assert client.get(f"/v1/documents/{document_id}").json()["version"] == 2
    assert client.delete(f"/v1/documents/{document_id}").status_code == 204
    assert client.get(f"/v1/documents/{document_id}").status_code == 404
    assert client.delete(f"/v1/documents/{document_id}").status_code == 404
    gone = client.post(
        "/v1/chat",
        json={"question": "How many hours of sun do tomatoes need?", "collection": "garden"},
    ).json()
    assert gone["citations"] == []


def test_a_collection_is_known_or_named_as_unknown_on_every_route(client: httpx.Client) -> None:
    """A collection exists once a document went into it (and stays, empty, when its last
    one is deleted); the default collection always exists. Every route naming a collection
    answers an unknown one 404 `collection_not_found`, as chat does, and an existing one,
    even empty, with what it holds."""
    unknown = [
        client.post("/v1/chat", json={"question": "hi", "collection": "never-made"}),
        client.get("/v1/documents", params={"collection": "never-made"}),
        client.delete("/v1/admin/cache", params={"collection": "never-made"}),
        client.post("/v1/admin/reindex", json={"collection": "never-made"}),
    ]
    for response in unknown:
        assert response.status_code == 404, (response.request.url, response.text)
        error = response.json()["error"]
        assert error["code"] == "collection_not_found" and "never-made" in error["message"]

    created = upload(
        client, [("brief.md", b"# Brief\n\nKites like wind.\n", "text/markdown")], "brief"
    )
    assert created.status_code == 200, created.text  # an upload brings a new collection about
    listed = client.get("/v1/documents", params={"collection": "brief"}).json()
    assert [item["source"] for item in listed["items"]] == ["brief.md"]
    document_id = created.json()["results"][0]["document"]["id"]
    assert client.delete(f"/v1/documents/{document_id}").status_code == 204
    for name in ("brief", "default"):  # emptied, and the default one: known, holding nothing
        listed = client.get("/v1/documents", params={"collection": name})
        assert listed.status_code == 200, listed.text
        assert listed.json()["total"] == len(listed.json()["items"])
        assert client.delete("/v1/admin/cache", params={"collection": name}).status_code == 200
        reindexed = client.post("/v1/admin/reindex", json={"collection": name})
        assert reindexed.status_code == 200, reindexed.text
        asked = client.post(
            "/v1/chat", json={"question": "Do kites like wind?", "collection": name}
        )
        assert asked.status_code == 200, asked.text
    assert client.get("/v1/documents", params={"collection": "brief"}).json() == {
        "items": [],
        "total": 0,
    }


@pytest.mark.parametrize(
    ("name", "data", "ctype", "status", "code"),
    [
        (
            "photo.txt",
            b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
            "text/plain",
            415,
            "unsupported_media_type",
        ),
        (
            "tool.exe",
            b"MZ\x90\x00" + b"\x00" * 64,
            "application/octet-stream",
            415,
            "unsupported_media_type",
        ),
        ("latin.txt", "café crème".encode("latin-1"), "text/plain", 422, "not_utf8"),
        ("empty.md", b"", "text/markdown", 422, "empty_document"),
        ("broken.pdf", b"%PDF-1.4\n garbage garbage", "application/pdf", 422, "corrupt_pdf"),
        ("big.txt", b"a" * 250_000, "text/plain", 413, "too_large"),
    ],
)
def test_bad_upload_is_refused_and_stores_nothing(
    client: httpx.Client, name: str, data: bytes, ctype: str, status: int, code: str
) -> None:
    before = client.get("/v1/documents", params={"limit": 500}).json()["total"]
    response = upload(client, [(name, data, ctype)], collection="ops")
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and name in error["message"]
    assert client.get("/v1/documents", params={"limit": 500}).json()["total"] == before


def test_batch_with_a_bad_file_still_ingests_the_others(client: httpx.Client) -> None:
    response = upload(
        client,
        [
            ("bad.txt", b"\xff\xfe\x00\x01", "text/plain"),
            ("good.txt", b"Lighthouses use Fresnel lenses to focus light.", "text/plain"),
        ],
        collection="batch",
    )
    assert response.status_code == 200
    statuses = {r["filename"]: r["status"] for r in response.json()["results"]}
    assert statuses == {"bad.txt": "error", "good.txt": "created"}
    docs = client.get("/v1/documents", params={"collection": "batch"}).json()
    assert [d["source"] for d in docs["items"]] == ["good.txt"]


def test_hostile_file_name_is_only_a_label(client: httpx.Client, server: LiveServer) -> None:
    response = upload(
        client,
        [("../../outside.md", b"# Outside\n\nNothing to see.", "text/markdown")],
        collection="names",
    )
    assert response.status_code == 200
    source = response.json()["results"][0]["document"]["source"]
    assert "/" not in source and ".." not in source
    assert not (server.settings.data_dir.parent / "outside.md").exists()


def test_a_source_that_names_no_file_falls_back_to_the_file_name(client: httpx.Client) -> None:
    """An empty (or `..`) `sources` field keeps the file's own name: two such files are two
    documents, each with its extension, not one "document" that the second replaces."""
    response = client.post(
        "/v1/documents",
        files=[
            ("files", ("moon.md", b"# Moon\n\nThe moon shows phases.\n", "text/markdown")),
            ("files", ("sun.txt", b"The sun rises in the east.\n", "text/plain")),
        ],
        data={"collection": "sky", "sources": ["", ".."]},
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "created"]
    assert [r["document"]["source"] for r in results] == ["moon.md", "sun.txt"]
    assert results[0]["document"]["media_type"] == "text/markdown"


def test_a_text_field_where_a_file_goes_is_named_in_plain_words(client: httpx.Client) -> None:
    response = client.post("/v1/documents", files=[("files", (None, b"hello"))])
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert message.startswith("files.0: must be a file"), message
    assert "UploadFile" not in response.text and "<class" not in response.text
