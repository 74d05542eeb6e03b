"""The findings of a fuzzer's run, each pinned over real HTTP: bounded integers, lone
surrogates and NUL characters, time zones on timestamps, declared error answers, `Allow`, one
status for an undecodable body, an unhandled error logged once, and documentation that works
offline."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, RunningServer, backend_settings
from tests.e2e.conftest import POOL_DOC, upload

SURROGATE_QUESTION = '{"question": "What is the pool size? \\ud800"}'
LIBRARY_WORDS = ("TextEncodeInput", "Union[", "tokenizer")
UTC_SUFFIX = re.compile(r"(Z|\+00:00)$")


class Records(logging.Handler):
    """Every log record of the process, for assertions on what was logged."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp(f"contract-{request.param}") / "var"
    with backend_settings(request.param, data_dir) as settings:
        running = RunningServer(settings)

        async def boom() -> None:
            raise RuntimeError("an unexpected failure")

        running.server.config.app.add_api_route("/v1/boom", boom, include_in_schema=False)
        try:
            live = running.start()
            with live.client() as client:
                assert upload(client, [("pool.md", POOL_DOC, "text/markdown")]).status_code == 200
            yield live
        finally:
            running.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def _error(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


def test_integers_beyond_the_database_are_a_422_naming_the_field(client: httpx.Client) -> None:
    for offset in ("9223372036854775808", "2147483648"):
        response = client.get("/v1/documents", params={"offset": offset})
        assert response.status_code == 422, response.text
        assert "offset" in _error(response)["message"]
    assert client.get("/v1/documents", params={"offset": 2**31 - 1}).status_code == 200
    response = client.get("/v1/admin/audit-events", params={"limit": 2**63})
    assert response.status_code == 422 and "limit" in _error(response)["message"]


def test_an_unhandled_error_is_logged_once(client: httpx.Client, records: Records) -> None:
    response = client.get("/v1/boom")
    assert response.status_code == 500
    assert _error(response)["code"] == "internal_error"
    time.sleep(1.0)  # the server would log a re-raised error after the response went out
    tracebacks = [r for r in records.records if r.exc_info]
    assert len(tracebacks) == 1, [r.getMessage() for r in tracebacks]
    assert tracebacks[0].getMessage() == "unhandled error"


def _server_errors_of_chat(client: httpx.Client) -> float:
    """How many 5xx answers of the chat routes the metrics have counted."""
    total = 0.0
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("ragops_http_requests_total") and "/v1/chat" in line:
            if 'status="5' in line:
                total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_lone_surrogate_is_a_422_naming_the_field(client: httpx.Client, records: Records) -> None:
    errors_before = _server_errors_of_chat(client)
    headers = {"Content-Type": "application/json"}
    answers = [
        ("question", client.post("/v1/chat", content=SURROGATE_QUESTION, headers=headers)),
        (
            "question",
            client.post(
                "/v1/chat",
                content=SURROGATE_QUESTION.replace("}", ', "stream": true}'),
                headers=headers,
            ),
        ),
        (
            "messages",
            client.post(
                "/v1/chat/completions",
                content='{"model": "default", "messages": [{"role": "user", '
                '"content": "What is the pool size? \\ud800"}]}',
                headers=headers,
            ),
        ),
    ]
    for field, response in answers:
        assert response.status_code == 422, response.text
        error = _error(response)
        assert error["message"].startswith(field), error
        assert not any(word in response.text for word in LIBRARY_WORDS)
    assert not [r for r in records.records if r.levelno >= logging.ERROR]
    # Nothing a 5xx availability objective counts (the registry is the process's: compare).
    assert _server_errors_of_chat(client) == errors_before


def test_a_nul_character_becomes_the_replacement_character(
    client: httpx.Client, records: Records
) -> None:
    """No PostgreSQL text column can store U+0000, yet JSON and URLs may carry it: in a body,
    a query parameter or the path it becomes U+FFFD on both databases, never a 500."""
    answer = client.post("/v1/chat", json={"question": "What is the pool size?\x00"})
    assert answer.status_code == 200, answer.text
    declared = client.post(
        "/v1/ops/incidents",
        params={"actor": "on\x00call"},
        json={"title": "db\x00down", "severity": "P3"},
    )
    assert declared.status_code == 201, declared.text
    incident = client.get(f"/v1/ops/incidents/{declared.json()['id']}").json()
    assert incident["title"] == "db\ufffddown"
    assert "on\ufffdcall" in str(incident["timeline"]), incident["timeline"]
    missing = client.delete("/v1/documents/abc%00def")
    assert missing.status_code == 404, missing.text
    assert not [r for r in records.records if r.levelno >= logging.ERROR]


def _integer_fields(client: httpx.Client) -> list[tuple[str, str, str]]:
    """(method, path, property) of every integer property of a JSON request body."""
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    found = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema", {})
            # an optional body is anyOf [its model, null]
            refs = [schema.get("$ref", "")] + [k.get("$ref", "") for k in schema.get("anyOf", [])]
            ref = next((r for r in refs if r), "")
            for name, prop in schemas.get(ref.rsplit("/", 1)[-1], {}).get("properties", {}).items():
                kinds = [prop.get("type"), *(k.get("type") for k in prop.get("anyOf", []))]
                if "integer" in kinds:
                    found.append((method.upper(), path, name))
    return found


def test_a_boolean_is_no_integer_in_any_body(client: httpx.Client) -> None:
    """JSON `true` is not the number 1: every integer field of every body refuses it, naming
    the field (pydantic's lax mode would read it as 1 and, say, keep one backup)."""
    fields = _integer_fields(client)
    assert {("POST", "/v1/ops/backups", "keep"), ("POST", "/v1/admin/reindex", "batch_size")} <= {
        *fields
    }
    for method, path, name in fields:
        response = client.request(method, path, json={name: True})
        assert response.status_code == 422, (method, path, name, response.text)
        details = _error(response).get("details", [])
        assert any(d["loc"][-1] == name for d in details), (method, path, name, details)
    # As in JSON Schema, a number with no fraction is an integer.
    assert client.post("/v1/admin/reindex", json={"batch_size": 64.0}).status_code == 200


def test_bounds_are_spelled_in_json_schema(client: httpx.Client) -> None:
    """`minimum`/`maximum`, never pydantic's `ge`/`le` (which a validator in a union yields
    and no client or fuzzer reads): a fuzzer found `keep: 0` refused though the schema
    seemed to allow it."""
    found: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("ge", "le", "gt", "lt") and not where.endswith("/properties"):
                    found.append(f"{where}/{key}")
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}/{index}")

    walk(client.get("/openapi.json").json(), "")
    assert found == []


def test_every_timestamp_carries_its_time_zone(client: httpx.Client) -> None:
    answer = client.post("/v1/chat", json={"question": "How many connections does it keep?"})
    assert answer.status_code == 200, answer.text
    session = client.get(f"/v1/sessions/{answer.json()['session_id']}").json()
    feedback = client.post(
        f"/v1/messages/{answer.json()['message_id']}/feedback", json={"rating": "up"}
    ).json()
    document = client.get("/v1/documents").json()["items"][0]
    stamps = [
        document["created_at"],
        document["updated_at"],
        client.get("/v1/collections").json()[0]["created_at"],
        session["created_at"],
        session["updated_at"],
        *[m["created_at"] for m in session["messages"]],
        feedback["created_at"],
        client.get("/v1/admin/keys").json()[0]["created_at"],
        client.get("/v1/admin/audit-events").json()[0]["at"],
    ]
    assert all(UTC_SUFFIX.search(stamp) for stamp in stamps), stamps


def test_error_answers_are_declared_with_one_schema(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    assert "ErrorBody" in schema["components"]["schemas"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    create = schema["paths"]["/v1/admin/keys"]["post"]["responses"]
    for status in ("401", "403", "413", "422", "429", "503"):
        ref = create[status]["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/ErrorBody", status
    assert "409" in schema["paths"]["/v1/admin/keys/{key_id}/rotate"]["post"]["responses"]
    assert "404" in schema["paths"]["/v1/documents/{document_id}"]["get"]["responses"]
    upload_answers = schema["paths"]["/v1/documents"]["post"]["responses"]
    assert {"413", "415", "409"} <= set(upload_answers)


def test_allow_names_every_method_of_a_path(client: httpx.Client) -> None:
    response = client.options("/v1/admin/keys")
    assert response.status_code == 204
    assert {"GET", "POST"} <= {m.strip() for m in response.headers["allow"].split(",")}
    refused = client.put("/v1/admin/keys")
    assert refused.status_code == 405
    assert {"GET", "POST"} <= {m.strip() for m in refused.headers["allow"].split(",")}
    schema = client.get("/openapi.json").json()
    for template, operations in schema["paths"].items():
        path = re.sub(r"\{[^}]+\}", "x", template)
        allowed = {m.strip() for m in client.options(path).headers["allow"].split(",")}
        assert {m.upper() for m in operations} <= allowed, template


def test_an_undecodable_body_is_the_same_422_everywhere(client: httpx.Client) -> None:
    garbage = bytes(range(256)) * 4
    routes = {
        "/v1/chat": "application/json",
        "/v1/chat/completions": "application/json",
        "/v1/documents": "multipart/form-data; boundary=xyz",
        "/v1/admin/keys": "application/json",
        "/v1/admin/keys/x/rotate": "application/json",
        "/v1/messages/x/feedback": "application/json",
    }
    for route, content_type in routes.items():
        response = client.post(route, content=garbage, headers={"Content-Type": content_type})
        assert response.status_code == 422, (route, content_type, response.text)
        assert _error(response)["code"] == "invalid_body", response.text
        assert _error(response)["message"].startswith("body"), response.text


def test_a_body_of_another_media_type_is_a_415_naming_the_one_expected(
    client: httpx.Client,
) -> None:
    question = '{"question": "What is the pool size?"}'
    refusals = [
        ("/v1/chat", question, "text/plain", "application/json"),
        ("/v1/chat", question, "application/x-www-form-urlencoded", "application/json"),
        ("/v1/chat", question, None, "application/json"),
        ("/v1/chat", bytes(range(256)), "application/octet-stream", "application/json"),
        ("/v1/admin/keys", '{"name": "ci"}', "text/plain; charset=utf-8", "application/json"),
        ("/v1/admin/keys/x/rotate", "{}", "text/plain", "application/json"),
        ("/v1/documents", question, "application/json", "multipart/form-data"),
    ]
    for route, body, declared, expected in refusals:
        headers = {"Content-Type": declared} if declared else {}
        response = client.post(route, content=body, headers=headers)
        assert response.status_code == 415, (route, declared, response.text)
        error = _error(response)
        assert error["code"] == "unsupported_media_type", response.text
        assert error["message"] == (
            f"body: the request body is {(declared or 'of no type').split(';')[0]}; "
            f"this route reads {expected}"
        ), response.text
        assert response.headers["accept-post"] == expected
    # The media type it reads, with a charset, is still read; an empty body is still missing.
    accepted = client.post(
        "/v1/chat", content=question, headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert accepted.status_code == 200, accepted.text
    missing = client.post("/v1/chat")
    assert missing.status_code == 422 and _error(missing)["code"] == "validation_error"
    schema = client.get("/openapi.json").json()
    for template, operations in schema["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                assert "415" in operation["responses"], (method, template)


def test_docs_pages_use_only_their_own_assets(client: httpx.Client) -> None:
    for path in ("/docs", "/redoc"):
        page = client.get(path)
        assert page.status_code == 200
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert sources and all(s.startswith("/") for s in sources), sources
        for source in sources:
            asset = client.get(source)
            assert asset.status_code == 200 and len(asset.content) > 1000, source
        assert "default-src 'none'" in page.headers["content-security-policy"]


def _render_offline(server: LiveServer, browser: Any, path: str, ready: str) -> list[str]:
    """Open `path` with every request outside the server refused; what went wrong."""
    page = browser.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda msg: problems.append(msg.text) if "Content Security" in msg.text else None,
    )

    def offline(route: Any) -> None:
        if route.request.url.startswith(server.base_url):
            route.continue_()
        else:
            problems.append(f"fetched {route.request.url}")
            route.abort()

    page.route("**/*", offline)
    page.goto(server.base_url + path)
    page.wait_for_selector(ready, timeout=30_000)
    page.close()
    # ReDoc's footer logo points at its vendor's site; the CSP blocks it and nothing needs it.
    return [problem for problem in problems if "logo" not in problem]


def test_docs_render_offline_in_a_browser(server: LiveServer, browser: Any) -> None:
    if "postgres" in str(server.settings.database_url):
        pytest.skip("the pages do not depend on the database")
    assert _render_offline(server, browser, "/docs", ".opblock") == []
    assert _render_offline(server, browser, "/redoc", ".menu-content") == []


def test_docs_assets_come_from_the_package(tmp_path: Path) -> None:
    from ragops.api.docs import assets_dir

    names = {p.name for p in assets_dir().iterdir()}
    assert {"swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"} <= names


def test_a_follow_up_in_another_collection_is_a_conflict(client: httpx.Client) -> None:
    first = client.post("/v1/chat", json={"question": "How many connections does it keep?"})
    session_id = first.json()["session_id"]
    follow_up = {"question": "And the timeout?", "session_id": session_id, "collection": "other"}
    response = client.post("/v1/chat", json=follow_up)
    assert response.status_code == 409, response.text
    assert _error(response)["code"] == "collection_mismatch"
