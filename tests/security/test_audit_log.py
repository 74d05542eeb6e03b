"""The audit trail, on SQLite and on PostgreSQL: authentication failures, refused scopes, key
changes, ingestion, deletion and admin reads are recorded with the key's id (never the key),
the client address and the request id; the table refuses UPDATE and DELETE."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ragops.auth import audit
from ragops.config import Settings
from ragops.db import Database, migrate
from tests.conftest import (
    BACKENDS,
    LiveServer,
    RunningServer,
    backend_settings,
    create_api_key,
    make_settings,
)
from tests.e2e.conftest import POOL_DOC, upload
from tests.security.support import audit_rows, bearer, dump_tables, key_row, make_key


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    data_dir: Path = tmp_path_factory.mktemp("audit") / "var"
    with backend_settings(request.param, data_dir) as settings:
        running = RunningServer(settings)
        try:
            yield running.start()
        finally:
            running.stop()


@pytest.fixture
def admin(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def _admin_id(server: LiveServer) -> str:
    assert server.api_key is not None
    return key_row(server.settings, server.api_key).id


def test_auth_failures_are_audit_logged(server: LiveServer) -> None:
    made_up = "rgo_" + "Z" * 43
    with server.client(authenticated=False) as anonymous:
        anonymous.get("/v1/documents", headers={"X-Request-ID": "audit-missing"})
        anonymous.post(
            "/v1/chat", json={}, headers={**bearer(made_up), "X-Request-ID": "audit-bad"}
        )
    events = {e.request_id: e for e in audit_rows(server.settings, "auth.failure")}
    missing, unknown = events["audit-missing"], events["audit-bad"]
    assert (missing.outcome, missing.detail) == ("denied", {"reason": "missing"})
    assert missing.target == "GET /v1/documents" and missing.client_address == "127.0.0.1"
    assert unknown.detail == {"reason": "unknown"} and unknown.target == "POST /v1/chat"
    assert unknown.actor_key_id is None and unknown.tenant_id is None
    assert made_up not in dump_tables(server.settings)


def test_refused_scope_is_audit_logged(server: LiveServer, admin: httpx.Client) -> None:
    created = make_key(admin, "chat")
    with server.client(authenticated=False) as client:
        refused = client.delete("/v1/documents/nope", headers=bearer(created["key"]))
    assert refused.status_code == 403
    [event] = [
        e
        for e in audit_rows(server.settings, "auth.forbidden")
        if e.request_id == refused.headers["x-request-id"]
    ]
    assert event.actor_key_id == created["api_key"]["id"] and event.tenant_id == "default"
    assert event.detail == {"required_scope": "ingest"}


def test_key_changes_are_audit_logged(server: LiveServer, admin: httpx.Client) -> None:
    created = make_key(admin, "chat", name="audited")
    key_id = created["api_key"]["id"]
    rotated = admin.post(f"/v1/admin/keys/{key_id}/rotate").json()
    new_id = rotated["api_key"]["id"]
    admin.post(f"/v1/admin/keys/{new_id}/revoke")
    admin.post("/v1/admin/keys/no-such-key/revoke")

    actor = _admin_id(server)
    by_action = {
        (e.action, e.target): e for e in audit_rows(server.settings) if e.actor_key_id == actor
    }
    create = by_action[("key.create", key_id)]
    assert create.outcome == "success" and create.tenant_id == "default"
    assert create.detail is not None and create.detail["scopes"] == ["chat"]
    assert create.detail["interface"] == "api" and create.client_address == "127.0.0.1"
    rotate = by_action[("key.rotate", key_id)]
    assert rotate.detail is not None and rotate.detail["new_key_id"] == new_id
    assert by_action[("key.revoke", new_id)].outcome == "success"
    failed = by_action[("key.revoke", "no-such-key")]
    assert failed.outcome == "failure" and failed.detail == {"code": "key_not_found"}

    everything = dump_tables(server.settings)
    assert server.api_key is not None
    for secret in (created["key"], rotated["key"], server.api_key):
        assert secret not in everything


def test_ingestion_and_deletion_are_audit_logged(server: LiveServer, admin: httpx.Client) -> None:
    stored = upload(admin, [("pool.md", POOL_DOC, "text/markdown")], collection="audited")
    doc_id = stored.json()["results"][0]["document"]["id"]
    assert admin.delete(f"/v1/documents/{doc_id}").status_code == 204
    assert admin.delete(f"/v1/documents/{doc_id}").status_code == 404

    actor = _admin_id(server)
    [ingest] = [e for e in audit_rows(server.settings, "documents.ingest") if e.target == "audited"]
    assert ingest.actor_key_id == actor and ingest.tenant_id == "default"
    assert ingest.request_id == stored.headers["x-request-id"]
    assert ingest.detail is not None
    assert ingest.detail["files"] == [
        {"filename": "pool.md", "status": "created", "document_id": doc_id, "error": None}
    ]
    deletes = [e for e in audit_rows(server.settings, "documents.delete") if e.target == doc_id]
    assert [(e.outcome, e.actor_key_id) for e in deletes] == [
        ("success", actor),
        ("failure", actor),
    ]


def test_admin_reads_its_own_tenants_audit_events(server: LiveServer, admin: httpx.Client) -> None:
    with server.client(authenticated=False) as anonymous:
        anonymous.get("/v1/documents")  # an auth failure: no tenant
    response = admin.get("/v1/admin/audit-events", params={"since": "1h"})
    assert response.status_code == 200
    events = response.json()
    assert events and {e["tenant_id"] for e in events} == {"default"}
    assert "auth.failure" not in {e["action"] for e in events}
    assert admin.get("/v1/admin/audit-events", params={"since": "soon"}).status_code == 422
    assert audit_rows(server.settings, "admin.audit.read")[-1].actor_key_id == _admin_id(server)
    # `?since=24h&action=` as the docs write it: an empty action filters nothing
    unfiltered = admin.get("/v1/admin/audit-events?since=1h&action=")
    assert unfiltered.status_code == 200 and len(unfiltered.json()) >= len(events)


async def _refused(db: Database, statement: str) -> str:
    async with db.engine.begin() as conn:
        with pytest.raises(DBAPIError) as refused:
            await conn.execute(text(statement))
    return str(refused.value)


async def test_audit_log_is_append_only(settings: Settings) -> None:
    await migrate.upgrade(settings)
    db = Database(settings)
    try:
        await audit.record_event(
            db=db,
            action="test.event",
            tenant_id="default",
            detail={"note": "leaked rgo_" + "Q" * 43, "api_key": "plain"},
        )
        for statement in (
            "UPDATE audit_events SET outcome = 'success', action = 'rewritten'",
            "DELETE FROM audit_events",
        ):
            assert "append-only" in await _refused(db, statement)
        if db.backend == "postgresql":
            assert "append-only" in await _refused(db, "TRUNCATE audit_events")
        [event] = await audit.list_events(db=db)
        assert event.action == "test.event"
        assert event.detail == {"note": "leaked [REDACTED]", "api_key": "[REDACTED]"}
    finally:
        await db.dispose()
    public = [name for name, _ in inspect.getmembers(audit, inspect.isfunction)]
    assert not [n for n in public if any(w in n for w in ("update", "delete", "purge", "edit"))]


def test_rate_limit_blocks_are_audit_logged(
    serve_app: Callable[[Settings], LiveServer], tmp_path: Path
) -> None:
    live = serve_app(make_settings(tmp_path / "var", rate_limit_chat="1/minute"))
    with live.client() as client:
        statuses = [
            client.post("/v1/chat", json={"question": "Is anyone there?"}).status_code
            for _ in range(2)
        ]
    assert statuses == [200, 429]
    [event] = audit_rows(live.settings, "rate_limit.block")
    assert live.api_key is not None
    assert event.outcome == "denied" and event.target == "POST /v1/chat"
    assert event.actor_key_id == key_row(live.settings, live.api_key).id
    assert event.detail is not None and event.detail["limit"] == "chat"


def test_a_keys_rate_limit_blocks_are_its_tenants_audit_events(
    serve_app: Callable[[Settings], LiveServer], tmp_path: Path
) -> None:
    """A refusal of a per-key limit names the key's tenant, so that tenant's admin reads it
    in its own audit events (GET /v1/admin/audit-events is filtered by tenant)."""
    live = serve_app(make_settings(tmp_path / "var", rate_limit_chat="1/minute"))
    acme = create_api_key(live.settings, tenant="acme", scopes="chat,admin")
    with live.client(headers={"Authorization": f"Bearer {acme}"}) as client:
        statuses = [
            client.post("/v1/chat", json={"question": "Is anyone there?"}).status_code
            for _ in range(2)
        ]
        assert statuses == [200, 429]
        [event] = audit_rows(live.settings, "rate_limit.block")
        assert event.tenant_id == "acme"
        assert event.actor_key_id == key_row(live.settings, acme).id
        listed = client.get("/v1/admin/audit-events", params={"action": "rate_limit.block"})
    assert [e["target"] for e in listed.json()] == ["POST /v1/chat"], listed.text
