"""The lean path of exact cache hits (`chat.fastpath`) over real HTTP, on SQLite with the
in-process cache and on PostgreSQL with Redis: a hit it serves is the ordinary route's answer
byte for byte (status, headers, body but for the new ids and the total time), stored in its
session and counted in the same metrics; revoked keys, other tenants, missing scopes, used-up
rate limits and a bumped corpus version behave as on the ordinary route; and whatever it does
not serve (misses, streams, sessions, idempotent retries) the router answers as before."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ragops.chat.fastpath import ExactHitPath
from ragops.observability import metrics
from tests.conftest import REDIS_URL, LiveServer, RunningServer, backend_settings, create_api_key
from tests.security.support import audit_rows

POOL = b"# Connection pool\n\nThe pool keeps five connections open and grows to twenty.\n"
POOL_V2 = b"# Connection pool\n\nThe pool keeps eight connections open and grows to forty.\n"
QUESTION = "How many connections does the pool keep open?"
CASES = [("sqlite", "memory"), ("postgres", "redis")]
BLANKED = frozenset({"content-length", "ratelimit-remaining", "ratelimit-reset", "retry-after"})
VARYING = re.compile(rb'"(session_id|message_id)":"[^"]*"|"total_ms":[0-9.e+-]+')


@dataclass
class Served:
    live: LiveServer
    app: Any
    key: str
    """An admin key of a tenant of this test alone (Redis is shared by every test run)."""

    @property
    def fast(self) -> ExactHitPath:
        path = self.app.state.fast_path
        assert isinstance(path, ExactHitPath)
        return path

    def client(self, key: str | None = None) -> httpx.Client:
        return self.live.client(headers={"Authorization": f"Bearer {key or self.key}"})


def start(tmp_path: Path, case: tuple[str, str], **overrides: Any) -> Iterator[Served]:
    backend, cache = case
    extra = {"redis_url": REDIS_URL} if cache == "redis" else {}
    with backend_settings(backend, tmp_path / "var", **extra, **overrides) as settings:
        running = RunningServer(settings)
        try:
            live = running.start()
            tenant = f"t{uuid.uuid4().hex[:10]}"
            key = create_api_key(settings, tenant=tenant)
            served = Served(live=live, app=running.server.config.app, key=key)
            with served.client() as client:
                upload(client, "pool.md", POOL)
            yield served
        finally:
            running.stop()


@pytest.fixture(params=CASES, ids=lambda case: f"{case[0]}-{case[1]}")
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    yield from start(tmp_path, request.param)


def upload(client: httpx.Client, name: str, data: bytes) -> None:
    response = client.post("/v1/documents", files=[("files", (name, data, "text/markdown"))])
    assert response.status_code == 200, response.text


def ask(client: httpx.Client, **headers: str) -> httpx.Response:
    return client.post("/v1/chat", json={"question": QUESTION}, headers=headers)


def counter(metric: Any, *labels: str) -> float:
    value: float = metric.labels(*labels)._value.get()
    return value


def comparable(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers in order (but the date) and the body, with what differs from one
    request to the next blanked: new ids, total time, length, the rate limit's count."""
    headers = [(k, v) for k, v in response.headers.multi_items() if k != "date"]
    assert response.headers["content-length"] == str(len(response.content))
    headers = [(k, "-") if k in BLANKED else (k, v) for k, v in headers]
    return response.status_code, headers, VARYING.sub(rb'"\1":-', response.content)


def test_a_hit_is_the_ordinary_answer_byte_for_byte(served: Served) -> None:
    with served.client() as client:
        first = ask(client)
        assert first.status_code == 200 and first.headers["x-cache"] == "miss"
        fast = served.fast
        hits = (fast.hits, counter(metrics.CACHE_LOOKUPS, "exact", "hit"))
        requests = counter(metrics.HTTP_REQUESTS, "POST", "/v1/chat", "200")
        stage = metrics.STAGE_DURATION.labels("cache_lookup")._sum.get()

        lean = ask(client, **{"X-Request-ID": "same-id-for-both"})
        assert lean.headers["x-cache"] == "hit-exact" and lean.json()["cache"] == "hit-exact"
        assert (fast.hits, counter(metrics.CACHE_LOOKUPS, "exact", "hit")) == (
            hits[0] + 1,
            hits[1] + 1,
        )
        assert counter(metrics.HTTP_REQUESTS, "POST", "/v1/chat", "200") == requests + 1
        assert metrics.STAGE_DURATION.labels("cache_lookup")._sum.get() > stage

        fast.enabled = False
        try:
            ordinary = ask(client, **{"X-Request-ID": "same-id-for-both"})
        finally:
            fast.enabled = True
        assert fast.hits == hits[0] + 1  # the router answered this one
        assert ordinary.headers["x-cache"] == "hit-exact"
        assert counter(metrics.CACHE_LOOKUPS, "exact", "hit") == hits[1] + 2
        assert comparable(lean) == comparable(ordinary)
        assert lean.headers["x-request-id"] == "same-id-for-both"
        assert "content-security-policy" in lean.headers and "ratelimit-limit" in lean.headers
        assert lean.json()["session_id"] != ordinary.json()["session_id"]

        # Both turns are stored in a session of their own, as on the ordinary route.
        for answer in (lean.json(), ordinary.json()):
            session = client.get(f"/v1/sessions/{answer['session_id']}")
            assert session.status_code == 200, session.text
            messages = session.json()["messages"]
            assert [m["role"] for m in messages] == ["user", "assistant"]
            assert messages[0]["content"] == QUESTION
            assert messages[1]["id"] == answer["message_id"]
            assert messages[1]["content"] == answer["answer"]
            assert messages[1]["citations"] == answer["citations"]


def test_keys_tenants_and_scopes_as_on_the_ordinary_route(served: Served) -> None:
    settings = served.live.settings
    with served.client() as admin:
        made = admin.post("/v1/admin/keys", json={"name": "to revoke", "scopes": ["chat"]})
        assert made.status_code == 201, made.text
        key, key_id = made.json()["key"], made.json()["api_key"]["id"]
        assert ask(admin).status_code == 200  # cached for the test's tenant
    other_tenant = create_api_key(settings, tenant=f"t{uuid.uuid4().hex[:8]}", scopes=("chat",))
    ingest_only = create_api_key(settings, scopes=("ingest",))
    fast = served.fast

    with served.client(key) as client:
        hits = fast.hits
        assert ask(client).headers["x-cache"] == "hit-exact"
        assert fast.hits == hits + 1
    with served.client(other_tenant) as client:  # the other tenant's corpus is empty
        answer = ask(client)
        assert answer.status_code == 200 and answer.headers["x-cache"] == "miss"
        assert answer.json()["citations"] == [] and "five" not in answer.text
        assert fast.hits == hits + 1

    with served.client() as admin:
        assert admin.post(f"/v1/admin/keys/{key_id}/revoke").status_code == 200
    refusals: dict[str, list[Any]] = {}
    failures = {r: counter(metrics.AUTH_FAILURES, r) for r in ("revoked", "missing")}
    for name, credential in (("revoked", key), ("ingest-only", ingest_only), ("none", None)):
        for enabled in (True, False):
            fast.enabled = enabled
            try:
                with served.live.client(authenticated=False) as client:
                    headers = {"Authorization": f"Bearer {credential}"} if credential else {}
                    refused = client.post(
                        "/v1/chat",
                        json={"question": QUESTION},
                        headers={**headers, "X-Request-ID": f"refused-{name}"},
                    )
            finally:
                fast.enabled = True
            refusals.setdefault(name, []).append(comparable(refused))
        assert refusals[name][0] == refusals[name][1], name
    assert refusals["revoked"][0][0] == 401 and refusals["none"][0][0] == 401
    assert ("www-authenticate", "Bearer") in refusals["revoked"][0][1]
    assert b'"unauthorized"' in refusals["revoked"][0][2]
    assert b"revoked" in refusals["revoked"][0][2]
    assert refusals["ingest-only"][0][0] == 403
    assert fast.hits == hits + 1
    # each refused request audited once, whichever path saw it first: a failed key is
    # counted (twice each) and its first failure of the minute is a row at once (the second
    # goes into the minute's summary); a missing scope is a row each time
    assert {r: counter(metrics.AUTH_FAILURES, r) - n for r, n in failures.items()} == {
        "revoked": 2,
        "missing": 2,
    }
    failed = audit_rows(settings, "auth.failure")
    assert [(e.request_id, (e.detail or {})["reason"]) for e in failed] == [
        ("refused-revoked", "revoked"),
        ("refused-none", "missing"),
    ]
    assert len(audit_rows(settings, "auth.forbidden")) == 2


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case[0]}-{case[1]}")
def test_rate_limit_counted_once_and_refused_alike(tmp_path: Path, case: tuple[str, str]) -> None:
    for served in start(tmp_path, case, rate_limit_chat="4/minute"):
        with served.client() as client:
            answers = [ask(client) for _ in range(4)]  # a miss, then three lean hits
            fast = served.fast
            assert [r.headers["x-cache"] for r in answers] == ["miss"] + ["hit-exact"] * 3
            assert fast.hits == 3
            # each request counted once, the miss (tried here, answered by the router) too
            assert [r.headers["ratelimit-remaining"] for r in answers] == ["3", "2", "1", "0"]
            refused = counter(metrics.HTTP_REQUESTS, "POST", "/v1/chat", "429")
            lean = ask(client, **{"X-Request-ID": "limited"})
            # counted under the route's template, as the route's own refusal is
            assert counter(metrics.HTTP_REQUESTS, "POST", "/v1/chat", "429") == refused + 1
            fast.enabled = False
            try:
                ordinary = ask(client, **{"X-Request-ID": "limited"})
            finally:
                fast.enabled = True
        assert lean.status_code == ordinary.status_code == 429
        assert lean.json()["error"]["code"] == "rate_limited"
        assert fast.hits == 3
        seconds = re.compile(rb"retry in \d+ s")
        status, headers, body = comparable(lean)
        assert [k for k, _ in headers] == [k for k, _ in comparable(ordinary)[1]]
        assert "retry-after" in lean.headers and lean.headers["ratelimit-remaining"] == "0"
        assert seconds.sub(b"", body) == seconds.sub(b"", comparable(ordinary)[2])


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case[0]}-{case[1]}")
def test_ingest_bumps_the_version_on_the_lean_path(tmp_path: Path, case: tuple[str, str]) -> None:
    for served in start(tmp_path, case):
        with served.client() as client:
            assert ask(client).headers["x-cache"] == "miss"
            assert ask(client).headers["x-cache"] == "hit-exact"
            hits = served.fast.hits
            upload(client, "pool.md", POOL_V2)
            updated = ask(client)
            assert updated.headers["x-cache"] == "miss" and "eight" in updated.json()["answer"]
            again = ask(client)
            assert again.headers["x-cache"] == "hit-exact" and "eight" in again.json()["answer"]
            assert served.fast.hits == hits + 1


def test_what_the_lean_path_leaves_to_the_router(served: Served) -> None:
    with served.client() as client:
        assert ask(client).status_code == 200
        assert ask(client).headers["x-cache"] == "hit-exact"
        fast = served.fast
        hits = fast.hits
        session = ask(client).json()["session_id"]
        assert fast.hits == hits + 1
        hits = fast.hits

        streamed = client.post("/v1/chat", json={"question": QUESTION, "stream": True})
        assert streamed.status_code == 200
        assert streamed.headers["content-type"].startswith("text/event-stream")
        in_session = client.post("/v1/chat", json={"question": QUESTION, "session_id": session})
        assert in_session.status_code == 200 and in_session.json()["session_id"] == session
        keyed = ask(client, **{"Idempotency-Key": uuid.uuid4().hex})
        assert keyed.status_code == 200 and keyed.headers["x-cache"] == "hit-exact"
        invalid = client.post("/v1/chat", json={"question": QUESTION, "extra": 1})
        assert invalid.status_code == 422
        empty = client.post("/v1/chat", json={"question": "   "})
        assert empty.status_code == 422 and empty.json()["error"]["code"] == "empty_question"
        broken = client.post(
            "/v1/chat", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert broken.status_code == 422
        assert fast.hits == hits  # none of these was served by the lean path
