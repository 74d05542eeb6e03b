"""`POST /v1/admin/reindex` and `ragops documents reindex` over real HTTP and real processes
(SQLite and the embedded store): a reindex makes the answer cached before it unreachable
(`X-Cache: miss`), bad input is a 4xx or one line and exit 1, and the command beside a
process holding the embedded store says so instead of failing with a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunningServer, backend_settings, create_api_key, run_cli
from tests.e2e.conftest import POOL_DOC, upload

QUESTION = "How many connections does the pool keep open?"


def _chat(client: httpx.Client) -> str:
    response = client.post("/v1/chat", json={"question": QUESTION, "collection": "ops"})
    assert response.status_code == 200, response.text
    assert response.json()["citations"], response.text  # found in the pool document
    return response.headers["X-Cache"]


def test_reindex_through_the_admin_api_and_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "var"
    with backend_settings("sqlite", data_dir) as settings:
        running = RunningServer(settings)
        try:
            live = running.start()
            assert live.api_key is not None
            with live.client() as client:
                assert upload(client, [("pool.md", POOL_DOC, "text/markdown")], "ops").is_success
                assert [_chat(client), _chat(client)] == ["miss", "hit-exact"]

                done = client.post("/v1/admin/reindex", json={"collection": "ops"})
                assert done.status_code == 200, done.text
                body = done.json()
                assert (body["tenant_id"], body["collection"]) == ("default", "ops")
                assert (body["collections"], body["documents"]) == (1, 1) and body["chunks"] >= 1
                assert [_chat(client), _chat(client)] == ["miss", "hit-exact"]

                for request, status, words in [
                    ({"collection": "nope"}, 404, "collection nope of tenant default not found"),
                    ({"collection": "Not A Name"}, 422, "collection"),
                    ({"batch_size": 0}, 422, "batch_size"),
                    ({"tenant": "other"}, 422, "tenant"),
                ]:
                    refused = client.post("/v1/admin/reindex", json=request)
                    assert refused.status_code == status, refused.text
                    assert words in refused.text
                # as docs/api.md shows it: the body's fields are optional, so is the body
                whole = client.post("/v1/admin/reindex")
                assert whole.status_code == 200, whole.text
                assert whole.json()["collection"] is None and whole.json()["documents"] == 1
                monkeypatch.setattr("ragops.documents.admin_router.API_MAX_CHUNKS", 1)
                too_many = client.post("/v1/admin/reindex", json={})
                assert too_many.status_code == 413, too_many.text
                assert "one collection at a time" in too_many.json()["error"]["message"]
                monkeypatch.undo()
                chat_key = create_api_key(settings, scopes=("chat",), name="chat only")
                forbidden = client.post(
                    "/v1/admin/reindex", json={}, headers={"Authorization": f"Bearer {chat_key}"}
                )
                assert forbidden.status_code == 403

            # this server holds the embedded store (and wrote no server.json: not `ragops serve`)
            locked = run_cli(data_dir, "documents", "reindex", check=False)
            assert locked.returncode == 1
            assert "in use by another ragops process" in locked.stderr
            assert "stop it, or use the server's API (--url)" in locked.stderr
            remote = ["--url", live.base_url, "--api-key", live.api_key]
            through = run_cli(data_dir, "documents", "reindex", "--json", *remote)
            assert json.loads(through.stdout)["documents"] == 1
            every = run_cli(data_dir, "documents", "reindex", "--all-tenants", *remote, check=False)
            assert every.returncode == 1 and "--all-tenants cannot go through" in every.stderr
        finally:
            running.stop()

    here = run_cli(data_dir, "documents", "reindex", "--collection", "ops", "--batch-size", "1")
    assert "reindexed tenant default: 1 collection, 1 document" in here.stdout
    everyone = run_cli(data_dir, "documents", "reindex", "--all-tenants", "--json")
    assert json.loads(everyone.stdout)["tenant_id"] is None
    for args, words in [
        (["--batch-size", "0"], "--batch-size must be between 1 and 4096, not 0"),
        (["--tenant", "nobody"], "tenant nobody has no collections"),
        (["--collection", "nope"], "collection nope of tenant default not found"),
        (["--all-tenants", "--tenant", "default"], "either --tenant or --all-tenants"),
    ]:
        bad = run_cli(data_dir, "documents", "reindex", *args, check=False)
        assert bad.returncode == 1 and words in bad.stderr, bad.stderr
