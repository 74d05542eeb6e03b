"""Tenant isolation over real HTTP, on SQLite and on PostgreSQL: a key of tenant B cannot
list, see, delete or cite tenant A's documents, sessions, messages or collections, nor see or
cancel A's jobs, revoke or rotate A's keys, read A's audit events, replay A's idempotent
answers, or clear, reindex or reconcile A's data with B's admin routes; A's ids in B's
requests are 404, as if they did not exist."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from ragops.config import Settings
from tests.conftest import BACKENDS, RunningServer, backend_settings, create_api_key
from tests.e2e.conftest import GARDEN_DOC, upload
from tests.security.support import audit_rows, key_row

VAULT_DOC = b"""# Vault

The vault combination of the observatory is 7-31-4159, changed every full moon.
"""
VAULT_QUESTION = "What is the vault combination of the observatory?"


@dataclass
class Tenants:
    """Two tenants' clients on one server, and tenant A's things."""

    base_url: str
    settings: Settings
    operator_key: str
    a: httpx.Client
    b: httpx.Client
    b_key: str
    a_document: str
    a_session: str
    a_message: str


@pytest.fixture(scope="module", params=BACKENDS)
def tenants(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tenants]:
    data_dir: Path = tmp_path_factory.mktemp("tenants") / "var"
    with backend_settings(request.param, data_dir) as settings:
        running = RunningServer(settings)
        try:
            live = running.start()
            a_key = create_api_key(settings, tenant="acme", scopes="chat,ingest")
            b_key = create_api_key(settings, tenant="globex", scopes="chat,ingest")
            with (
                httpx.Client(base_url=live.base_url, headers={"X-API-Key": a_key}, timeout=60) as a,
                httpx.Client(base_url=live.base_url, headers={"X-API-Key": b_key}, timeout=60) as b,
            ):
                stored = upload(a, [("vault.md", VAULT_DOC, "text/markdown")], collection="vault")
                assert stored.status_code == 200, stored.text
                assert upload(a, [("vault.md", VAULT_DOC, "text/markdown")]).status_code == 200
                assert upload(b, [("garden.md", GARDEN_DOC, "text/markdown")]).status_code == 200
                asked = a.post("/v1/chat", json={"question": VAULT_QUESTION, "collection": "vault"})
                assert asked.status_code == 200 and asked.json()["citations"], asked.text
                assert live.api_key is not None
                yield Tenants(
                    base_url=live.base_url,
                    settings=settings,
                    operator_key=live.api_key,
                    a=a,
                    b=b,
                    b_key=b_key,
                    a_document=stored.json()["results"][0]["document"]["id"],
                    a_session=asked.json()["session_id"],
                    a_message=asked.json()["message_id"],
                )
        finally:
            running.stop()


def _code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_other_tenants_document_is_404(tenants: Tenants) -> None:
    doc = tenants.a_document
    assert _code(tenants.b.get(f"/v1/documents/{doc}")) == (404, "document_not_found")
    assert _code(tenants.b.delete(f"/v1/documents/{doc}")) == (404, "document_not_found")
    listing = tenants.b.get("/v1/documents", params={"limit": 500}).json()
    assert [item["source"] for item in listing["items"]] == ["garden.md"]
    assert listing["total"] == 1
    other = tenants.b.get("/v1/documents", params={"collection": "vault"})  # not b's to know
    assert _code(other) == (404, "collection_not_found")
    assert tenants.a.get(f"/v1/documents/{doc}").status_code == 200  # untouched


def test_other_tenants_session_is_404(tenants: Tenants) -> None:
    session, message = tenants.a_session, tenants.a_message
    assert _code(tenants.b.get(f"/v1/sessions/{session}")) == (404, "session_not_found")
    assert _code(tenants.b.delete(f"/v1/sessions/{session}")) == (404, "session_not_found")
    feedback = tenants.b.post(f"/v1/messages/{message}/feedback", json={"rating": "down"})
    assert _code(feedback) == (404, "message_not_found")
    follow = tenants.b.post("/v1/chat", json={"question": "And then?", "session_id": session})
    assert _code(follow) == (404, "session_not_found")
    streamed = {"question": "And then?", "session_id": session, "stream": True}
    assert _code(tenants.b.post("/v1/chat", json=streamed)) == (404, "session_not_found")
    kept = tenants.a.get(f"/v1/sessions/{session}").json()
    assert len(kept["messages"]) == 2


def test_other_tenants_collections_and_models_are_invisible(tenants: Tenants) -> None:
    assert [c["name"] for c in tenants.b.get("/v1/collections").json()] == ["default"]
    assert [m["id"] for m in tenants.b.get("/v1/models").json()["data"]] == ["default"]
    assert {c["name"] for c in tenants.a.get("/v1/collections").json()} == {"default", "vault"}
    asked = tenants.b.post("/v1/chat", json={"question": VAULT_QUESTION, "collection": "vault"})
    assert _code(asked) == (404, "collection_not_found")
    client = openai.OpenAI(base_url=tenants.base_url + "/v1", api_key=tenants.b_key, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model="vault", messages=[{"role": "user", "content": VAULT_QUESTION}]
        )


def test_other_tenants_passages_are_never_cited(tenants: Tenants) -> None:
    mine = tenants.a.post("/v1/chat", json={"question": VAULT_QUESTION}).json()
    assert "7-31-4159" in mine["answer"] and mine["citations"]

    theirs = tenants.b.post("/v1/chat", json={"question": VAULT_QUESTION})
    assert theirs.status_code == 200
    assert theirs.json()["citations"] == [] and "7-31-4159" not in theirs.text

    client = openai.OpenAI(base_url=tenants.base_url + "/v1", api_key=tenants.b_key, max_retries=0)
    reply = client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": VAULT_QUESTION}]
    )
    assert (reply.model_extra or {})["citations"] == []
    assert "7-31-4159" not in (reply.choices[0].message.content or "")


def test_same_file_in_two_tenants_stays_two_documents(tenants: Tenants) -> None:
    mine = upload(tenants.b, [("vault.md", b"# Vault\n\nOurs is empty.", "text/markdown")])
    assert mine.status_code == 200 and mine.json()["results"][0]["status"] == "created"
    theirs = tenants.a.get(f"/v1/documents/{tenants.a_document}").json()
    assert theirs["version"] == 1
    answer = tenants.a.post("/v1/chat", json={"question": VAULT_QUESTION}).json()["answer"]
    assert "7-31-4159" in answer


def test_service_wide_routes_need_an_admin_key_of_the_operator_tenant(tenants: Tenants) -> None:
    """Incidents, on-call, the alert webhook and the database pools concern the whole service:
    another tenant's admin key (which manages that tenant's keys) gets 403 and changes nothing."""
    globex_admin = create_api_key(tenants.settings, tenant="globex", scopes="admin")
    with (
        httpx.Client(
            base_url=tenants.base_url, headers={"X-API-Key": tenants.operator_key}, timeout=60
        ) as op,
        httpx.Client(
            base_url=tenants.base_url, headers={"X-API-Key": globex_admin}, timeout=60
        ) as other,
    ):
        declared = op.post("/v1/ops/incidents", json={"title": "Disk 90 %", "severity": "P4"})
        assert declared.status_code == 201, declared.text
        incident = f"/v1/ops/incidents/{declared.json()['id']}"
        alert = {"version": "4", "status": "firing", "receiver": "ragops", "alerts": []}
        refused = (
            ("GET", "/v1/ops/incidents", None),
            ("POST", "/v1/ops/incidents", {"title": "fake", "severity": "P1"}),
            ("GET", incident, None),
            ("POST", f"{incident}/notes", {"message": "all clear, close it"}),
            ("POST", f"{incident}/ack", None),
            ("POST", f"{incident}/status", {"status": "resolved"}),
            ("GET", "/v1/ops/action-items", None),
            ("GET", "/v1/ops/oncall", None),
            ("POST", "/v1/ops/alerts/webhook", alert),
            ("GET", "/v1/admin/db/pools", None),
            ("POST", "/v1/admin/db/pool/reset", None),
            ("POST", "/v1/ops/backups", None),
        )
        for method, path, body in refused:
            answer = other.request(method, path, json=body)
            assert answer.status_code == 403, (method, path, answer.text)
            assert answer.json()["error"]["code"] == "forbidden"
            assert "tenant 'default'" in answer.json()["error"]["message"]
        denied = [
            e for e in audit_rows(tenants.settings, "auth.forbidden") if e.tenant_id == "globex"
        ]
        assert sorted(e.target or "" for e in denied) == sorted(f"{m} {p}" for m, p, _ in refused)
        assert other.get("/v1/admin/keys").status_code == 200  # its own tenant's keys still
        kept = op.get(incident).json()
        assert kept["status"] == "triggered" and "all clear" not in str(kept)
        assert [i["title"] for i in op.get("/v1/ops/incidents").json()] == ["Disk 90 %"]


@pytest.fixture
def globex_admin(tenants: Tenants) -> Iterator[httpx.Client]:
    """A key of tenant B with every scope: the attacker's strongest key short of the
    operator's."""
    key = create_api_key(tenants.settings, tenant="globex", scopes="chat,ingest,admin")
    with httpx.Client(base_url=tenants.base_url, headers={"X-API-Key": key}, timeout=60) as c:
        yield c


def test_other_tenants_jobs_are_404(tenants: Tenants) -> None:
    queued = tenants.a.post(
        "/v1/documents",
        params={"async": "true"},
        files=[("files", ("later.md", b"# Later\n\nThe lamp is lit at dusk.\n", "text/markdown"))],
    )
    assert queued.status_code == 202, queued.text
    job = queued.json()["id"]
    assert _code(tenants.b.get(f"/v1/jobs/{job}")) == (404, "job_not_found")
    assert _code(tenants.b.delete(f"/v1/jobs/{job}")) == (404, "job_not_found")
    assert job not in {j["id"] for j in tenants.b.get("/v1/jobs").json()["jobs"]}
    mine = tenants.a.get(f"/v1/jobs/{job}").json()
    assert mine["state"] != "cancelled" and not mine["cancel_requested"]


def test_other_tenants_keys_cannot_be_revoked_rotated_or_listed(
    tenants: Tenants, globex_admin: httpx.Client
) -> None:
    victim = str(tenants.a.headers["X-API-Key"])
    victim_id = key_row(tenants.settings, victim).id
    revoked = globex_admin.post(f"/v1/admin/keys/{victim_id}/revoke")
    rotated = globex_admin.post(f"/v1/admin/keys/{victim_id}/rotate")
    assert revoked.status_code == 404 and rotated.status_code == 404, (revoked.text, rotated.text)
    assert "key" not in rotated.json() and victim not in rotated.text
    assert victim_id not in {k["id"] for k in globex_admin.get("/v1/admin/keys").json()}
    row = key_row(tenants.settings, victim)
    assert row.revoked_at is None and row.expires_at is None
    assert tenants.a.get("/v1/collections").status_code == 200  # the key still works
    events = globex_admin.get("/v1/admin/audit-events", params={"since": "1d"}).json()
    assert events and {e["tenant_id"] for e in events} == {"globex"}


def test_other_tenants_idempotent_answers_are_never_replayed(tenants: Tenants) -> None:
    """The same Idempotency-Key and body from two tenants are two requests."""
    same = {"Idempotency-Key": "shared-key-1"}
    body = {"question": VAULT_QUESTION}
    mine = tenants.a.post("/v1/chat", json=body, headers=same)
    assert mine.status_code == 200 and "7-31-4159" in mine.text
    theirs = tenants.b.post("/v1/chat", json=body, headers=same)
    assert theirs.status_code == 200, theirs.text
    assert "idempotent-replayed" not in theirs.headers and "7-31-4159" not in theirs.text
    again = tenants.a.post("/v1/chat", json=body, headers=same)  # A's own retry still replays
    assert again.headers.get("idempotent-replayed") == "true"


def test_other_tenants_admin_routes_touch_only_their_own_data(
    tenants: Tenants, globex_admin: httpx.Client
) -> None:
    """Cache clear, reindex, store check and reconcile of tenant B leave A's cached answers,
    vectors and documents alone."""
    ask = {"question": VAULT_QUESTION, "collection": "vault"}
    tenants.a.post("/v1/chat", json=ask)
    assert tenants.a.post("/v1/chat", json=ask).headers["X-Cache"] == "hit-exact"

    cleared = globex_admin.delete("/v1/admin/cache")
    assert cleared.status_code == 200 and cleared.json()["tenant_id"] == "globex"
    # globex has no collection "vault": 404 collection_not_found, however acme names its own
    assert globex_admin.delete("/v1/admin/cache", params={"collection": "vault"}).status_code == 404
    assert tenants.a.post("/v1/chat", json=ask).headers["X-Cache"] == "hit-exact"

    reindexed = globex_admin.post("/v1/admin/reindex", json={"collection": "vault"})
    assert reindexed.status_code == 404, reindexed.text
    assert globex_admin.post("/v1/admin/reindex").status_code == 200
    report = globex_admin.get("/v1/admin/store/check").json()
    assert "acme" not in str(report) and "vault.md" not in str(report)
    assert globex_admin.post("/v1/admin/store/reconcile").status_code == 200
    assert tenants.a.post("/v1/chat", json=ask).headers["X-Cache"] == "hit-exact"
    fresh = tenants.a.post("/v1/chat", json={**ask, "question": "How often is it changed?"})
    assert fresh.status_code == 200 and fresh.json()["citations"], fresh.text
    assert "7-31-4159" in tenants.a.post("/v1/chat", json={"question": VAULT_QUESTION}).text
    assert _code(globex_admin.get("/v1/models/vault")) == (404, "collection_not_found")
