"""`Idempotency-Key` on POST routes, against a real server on each database backend: a retry
returns the first result, a different request under a used key is refused, keys are per
tenant and expire, a concurrent retry waits for the first result, and a secret-bearing
answer (a new API key) is never stored."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from ragops.config import Settings
from tests.conftest import create_api_key, make_settings, run_sync

QUESTION = {"question": "How do I rotate an API key?"}


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


def stored_rows(settings: Settings) -> list[tuple[Any, ...]]:
    from ragops.db import Database

    async def read() -> list[tuple[Any, ...]]:
        db = Database(settings)
        try:
            async with db.session() as session:
                rows = await session.execute(
                    text("SELECT scope, key, state, body FROM idempotency_keys ORDER BY key")
                )
                return [tuple(r) for r in rows]
        finally:
            await db.dispose()

    return run_sync(read())


def test_a_retry_returns_the_first_result(settings: Settings, serve_app: Any) -> None:
    live = serve_app(settings)
    with live.client() as client:
        first = client.post("/v1/chat", json=QUESTION, headers=keyed("chat-1"))
        again = client.post("/v1/chat", json=QUESTION, headers=keyed("chat-1"))
        unkeyed = client.post("/v1/chat", json=QUESTION)
    assert first.status_code == 200, first.text
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["content-type"] == first.headers["content-type"]
    assert "idempotent-replayed" not in first.headers
    # without the key the same question is a new chat: another session
    assert unkeyed.json()["session_id"] != first.json()["session_id"]
    assert [(r[1], r[2]) for r in stored_rows(settings)] == [("chat-1", "done")]
    metrics = httpx.get(live.base_url + "/metrics", timeout=10).text
    assert 'ragops_idempotency_requests_total{outcome="replayed"}' in metrics


def test_a_different_request_under_a_used_key_is_refused(
    settings: Settings, serve_app: Any
) -> None:
    live = serve_app(settings)
    with live.client() as client:
        assert client.post("/v1/chat", json=QUESTION, headers=keyed("k")).status_code == 200
        other = client.post("/v1/chat", json={"question": "Something else?"}, headers=keyed("k"))
        path = client.post("/v1/chat/completions", json=QUESTION, headers=keyed("k"))
        bad = client.post("/v1/chat", json=QUESTION, headers=keyed("x" * 256))
        spaced = client.post("/v1/chat", json=QUESTION, headers=keyed("a key"))
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert path.status_code == 422, path.text
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_idempotency_key"
    assert spaced.status_code == 400


def test_keys_are_per_tenant_and_expire(tmp_path: Path, serve_app: Any) -> None:
    settings = make_settings(tmp_path / "var", idempotency_key_hours=1.5 / 3600)
    live = serve_app(settings)
    other_tenant = create_api_key(settings, tenant="acme")
    with live.client() as client:
        first = client.post("/v1/chat", json=QUESTION, headers=keyed("shared"))
        theirs = client.post(
            "/v1/chat",
            json=QUESTION,
            headers={**keyed("shared"), "Authorization": f"Bearer {other_tenant}"},
        )
        assert theirs.status_code == 200 and "idempotent-replayed" not in theirs.headers
        assert theirs.json()["session_id"] != first.json()["session_id"]
        time.sleep(1.6)
        later = client.post("/v1/chat", json=QUESTION, headers=keyed("shared"))
    assert later.status_code == 200 and "idempotent-replayed" not in later.headers
    assert later.json()["session_id"] != first.json()["session_id"]


def test_a_concurrent_retry_waits_for_the_first_result(tmp_path: Path, serve_app: Any) -> None:
    settings = make_settings(tmp_path / "var")
    live = serve_app(settings)
    with live.client() as client, ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(
                lambda _: client.post("/v1/chat", json=QUESTION, headers=keyed("race")), range(4)
            )
        )
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["session_id"] for a in answers}) == 1
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 3


def test_an_answer_holding_a_secret_is_not_kept(tmp_path: Path, serve_app: Any) -> None:
    settings = make_settings(tmp_path / "var")
    live = serve_app(settings)
    body = {"scopes": ["chat"], "name": "retried"}
    with live.client() as client:
        created = client.post("/v1/admin/keys", json=body, headers=keyed("new-key"))
        retried = client.post("/v1/admin/keys", json=body, headers=keyed("new-key"))
        keys = client.get("/v1/admin/keys").json()
    assert created.status_code == 201, created.text
    assert retried.status_code == 409
    assert retried.json()["error"]["code"] == "idempotency_answer_not_kept"
    assert sum(k["name"] == "retried" for k in keys) == 1
    secret = created.json()["key"]
    assert all(secret.encode() not in (row[3] or b"") for row in stored_rows(settings))
    assert [(r[1], r[2]) for r in stored_rows(settings)] == [("new-key", "sealed")]


def test_a_request_that_failed_lets_its_key_go(tmp_path: Path, serve_app: Any) -> None:
    settings = make_settings(tmp_path / "var", rate_limit_chat="1/minute")
    live = serve_app(settings)
    with live.client() as client:
        assert client.post("/v1/chat", json=QUESTION).status_code == 200
        limited = client.post("/v1/chat", json=QUESTION, headers=keyed("later"))
    assert limited.status_code == 429
    assert stored_rows(settings) == []  # a 429 is not an answer: the retry will run


async def test_expired_keys_are_swept(runtime: Any) -> None:
    from datetime import timedelta

    from ragops.idempotency.service import IdempotencyStore

    lapsed = IdempotencyStore(runtime.db, timedelta(seconds=-1))
    assert (await lapsed.claim("tenant:default", "old", "f" * 64)).outcome == "claimed"
    kept = IdempotencyStore(runtime.db, timedelta(hours=1))
    assert (await kept.claim("tenant:default", "new", "f" * 64)).outcome == "claimed"
    assert await kept.purge_expired() == 1
    assert (await kept.claim("tenant:default", "new", "f" * 64)).outcome == "busy"


def test_a_retried_upload_with_a_new_multipart_boundary_is_replayed(
    tmp_path: Path, serve_app: Any
) -> None:
    """A client that sends an upload again builds the multipart body again, with a new random
    boundary (curl, httpx, requests): the same files under the same key are the same request."""
    settings = make_settings(tmp_path / "var")
    live = serve_app(settings)
    text = b"# Retry\n\nThe retry gauge reads %d units.\n"
    page = ("files", ("retry.md", text % 42, "text/markdown"))
    other = ("files", ("retry.md", text % 43, "text/markdown"))

    def upload(boundary: str, file: Any, key: str = "upload-1") -> httpx.Response:
        headers = {**keyed(key), "Content-Type": f"multipart/form-data; boundary={boundary}"}
        with live.client() as client:
            return client.post("/v1/documents", files=[file], headers=headers)

    first = upload("first-boundary-1a2b", page)
    again = upload("a-new-boundary-9f8e7d", page)
    changed = upload("third-boundary-5c6d", other)
    assert first.status_code == 200, first.text
    assert (again.status_code, again.content) == (200, first.content)
    assert again.headers["idempotent-replayed"] == "true"
    assert changed.status_code == 422, changed.text
    assert changed.json()["error"]["code"] == "idempotency_key_reused"
    with live.client() as client:
        listed = client.get("/v1/documents").json()
    assert [d["source"] for d in listed["items"]] == ["retry.md"]
