"""The `ragops` command beside a running `ragops serve` on the same data (real processes): it
finds the server through `<data_dir>/server.json` and goes through its API (the embedded store
admits one process), or through `--url`/`--api-key`; with no live server it works in-process.
Also: whole ids in `documents list` at 80 columns, id prefixes in `documents delete`, no
Alembic lines in the output."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServedCli, free_port, run_cli, serve_cli
from tests.e2e.conftest import POOL_DOC, ROLLBACK_DOC


def _corpus(folder: Path, extra: int = 0) -> Path:
    (folder / "guides").mkdir(parents=True)
    (folder / "pool.md").write_bytes(POOL_DOC)
    (folder / "guides" / "rollback.md").write_bytes(ROLLBACK_DOC)
    (folder / "rollback.md").write_text("# Other rollback\n\nSame name, other folder.\n")
    for number in range(extra):
        (folder / f"note-{number:02d}.txt").write_text(f"Note {number} about kites and wind.")
    return folder


def _shared_prefix(ids: list[str]) -> str:
    """A one-character prefix at least two ids share (17+ uuids always have one)."""
    firsts = [i[0] for i in ids]
    return next(c for c in firsts if firsts.count(c) > 1)


def _unique_prefix(target: str, ids: list[str]) -> str:
    for length in range(1, len(target) + 1):
        if sum(1 for i in ids if i.startswith(target[:length])) == 1:
            return target[:length]
    return target


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedCli]:
    data_dir = tmp_path_factory.mktemp("beside") / "var"
    with serve_cli(data_dir) as server:
        yield server
    assert not (data_dir / "server.json").exists(), "server.json outlived the server"


def test_serve_announces_itself(served: ServedCli) -> None:
    state = json.loads((served.data_dir / "server.json").read_text())
    assert state["url"] == served.url and state["pid"] == served.process.pid
    second = run_cli(served.data_dir, "serve", "--port", str(free_port()), check=False)
    assert second.returncode == 1 and "already serves" in second.stderr


def test_commands_go_through_the_running_server(served: ServedCli, tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "corpus", extra=15)
    result = run_cli(served.data_dir, "ingest", str(corpus), "-c", "ops")
    assert "guides/rollback.md" in result.stdout and "created" in result.stdout

    listing = json.loads(run_cli(served.data_dir, "documents", "list", "--json").stdout)
    by_source = {item["source"]: item["id"] for item in listing["items"]}
    # folders are kept in source names: two rollback.md files stay two documents
    assert {"pool.md", "guides/rollback.md", "rollback.md"} <= set(by_source)
    assert listing["total"] == 18

    again = run_cli(served.data_dir, "ingest", str(corpus), "-c", "ops")
    assert "unchanged" in again.stdout
    assert "created" not in again.stdout and "updated" not in again.stdout

    answer = run_cli(served.data_dir, "ask", "How do I roll back a release?", "-c", "ops")
    assert "revert the commit" in answer.stdout
    assert "ops" in run_cli(served.data_dir, "collections").stdout

    ids = list(by_source.values())
    shared = _shared_prefix(ids)
    ambiguous = run_cli(served.data_dir, "documents", "delete", shared, check=False)
    assert ambiguous.returncode == 1 and "ambiguous" in ambiguous.stderr
    target = by_source["pool.md"]
    deleted = run_cli(served.data_dir, "documents", "delete", _unique_prefix(target, ids))
    assert f"deleted {target} (pool.md)" in deleted.stdout
    with httpx.Client(base_url=served.url) as client:
        assert client.get("/healthz").status_code == 200

    # the server did the work: its audit events carry the caller's address and key
    events = [
        json.loads(line)
        for line in run_cli(served.data_dir, "audit-log", "--json").stdout.splitlines()
    ]
    ingests = [e for e in events if e["action"] == "documents.ingest"]
    assert ingests and all(e["client_address"] and e["actor_key_id"] for e in ingests)
    deletes = [e for e in events if e["action"] == "documents.delete"]
    assert [e["target"] for e in deletes] == [target]
    # every temporary key was revoked when its command finished
    keys = json.loads(run_cli(served.data_dir, "keys", "list", "--json").stdout)
    temporary = [k for k in keys if k["name"] == "ragops CLI (temporary)"]
    assert temporary and all(k["status"] == "revoked" for k in temporary)


def test_cache_warm_goes_through_the_running_server(served: ServedCli, tmp_path: Path) -> None:
    """`ragops cache warm` beside `ragops serve` on the embedded defaults (in-process cache,
    embedded vector store): the server answers the questions, so its own cache is warm
    (docs/caching.md); before, the command could not open the store the server holds."""
    source = tmp_path / "pool.md"
    source.write_bytes(POOL_DOC)
    run_cli(served.data_dir, "ingest", str(source), "-c", "warm")
    question = "How many connections does the pool keep open?"
    questions = tmp_path / "questions.yaml"
    questions.write_text(f"- {question}\n- question: What does the pool grow to?\n")
    warmed = run_cli(served.data_dir, "cache", "warm", str(questions), "-c", "warm")
    assert "answered by the ragops server" in warmed.stdout
    assert "2 cached, 0 already cached" in warmed.stdout
    key = json.loads(
        run_cli(served.data_dir, "keys", "create", "--scopes", "chat", "--json").stdout
    )["key"]
    with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {key}"}) as client:
        asked = client.post("/v1/chat", json={"question": question, "collection": "warm"})
    assert asked.status_code == 200, asked.text
    assert asked.headers["X-Cache"] == asked.json()["cache"] == "hit-exact"


def test_explicit_url_and_api_key(served: ServedCli, tmp_path: Path) -> None:
    created = run_cli(served.data_dir, "keys", "create", "--scopes", "chat", "--json")
    key = json.loads(created.stdout)["key"]
    other_dir = tmp_path / "elsewhere"  # no server.json here: only --url finds the server
    listing = run_cli(
        other_dir, "documents", "list", "--json", "--url", served.url, "--api-key", key
    )
    some_id = json.loads(listing.stdout)["items"][0]["id"]
    via_env = run_cli(
        other_dir,
        "collections",
        env={"RAGOPS_API_URL": served.url, "RAGOPS_API_KEY": key},
    )
    assert "collection" in via_env.stdout

    keyless = run_cli(other_dir, "collections", "--url", served.url, check=False)
    assert keyless.returncode == 1, keyless.stderr
    assert "send 'Authorization: Bearer <key>' or 'X-API-Key'" in keyless.stderr  # unredacted
    bad = run_cli(
        other_dir, "collections", "--url", served.url, "--api-key", "rgo_nope", check=False
    )
    assert bad.returncode == 1 and "not valid" in bad.stderr and "--api-key" in bad.stderr
    scoped = run_cli(
        other_dir,
        "documents",
        "delete",
        some_id,
        "--url",
        served.url,
        "--api-key",
        key,
        check=False,
    )
    assert scoped.returncode == 1 and "lacks the 'ingest' scope" in scoped.stderr
    tenant = run_cli(
        other_dir, "collections", "--url", served.url, "--api-key", key, "-t", "x", check=False
    )
    assert tenant.returncode == 1 and "--tenant does not apply" in tenant.stderr
    down = run_cli(
        other_dir, "collections", "--url", f"http://127.0.0.1:{free_port()}", check=False
    )
    assert down.returncode == 1 and "cannot reach" in down.stderr


def test_upload_source_names(served: ServedCli) -> None:
    key = json.loads(
        run_cli(served.data_dir, "keys", "create", "--scopes", "ingest", "--json").stdout
    )["key"]
    files = [("files", ("a.md", b"# A\n\nAlpha.")), ("files", ("b.md", b"# B\n\nBeta."))]
    with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {key}"}) as client:
        mismatch = client.post("/v1/documents", files=files, data={"sources": ["x/a.md"]})
        assert mismatch.status_code == 422
        assert mismatch.json()["error"]["code"] == "invalid_sources"
        named = client.post(
            "/v1/documents",
            files=files,
            data={"sources": ["../../deep/a.md", "deep/b.md"], "collection": "names"},
        )
    assert named.status_code == 200, named.text
    sources = [r["document"]["source"] for r in named.json()["results"]]
    assert sources == ["deep/a.md", "deep/b.md"]


def test_without_a_server_commands_work_in_process(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = {"url": f"http://127.0.0.1:{free_port()}", "pid": gone.pid, "started_at": 0}
    (data_dir / "server.json").write_text(json.dumps(stale))  # a killed server's leftover

    corpus = _corpus(tmp_path / "corpus", extra=14)
    result = run_cli(data_dir, "ingest", str(corpus), "-c", "ops", env={"RAGOPS_LOG_LEVEL": "INFO"})
    assert "created" in result.stdout
    assert "alembic" not in (result.stdout + result.stderr).lower()

    narrow = run_cli(data_dir, "documents", "list", env={"COLUMNS": "80"})
    listing = json.loads(run_cli(data_dir, "documents", "list", "--json").stdout)
    ids = [item["id"] for item in listing["items"]]
    assert len(ids) == 17
    for document_id in ids:
        assert document_id in narrow.stdout, narrow.stdout

    shared = _shared_prefix(ids)
    ambiguous = run_cli(data_dir, "documents", "delete", shared, check=False)
    assert ambiguous.returncode == 1 and "ambiguous" in ambiguous.stderr
    assert "give more of the id" in ambiguous.stderr
    target = ids[0]
    deleted = run_cli(data_dir, "documents", "delete", _unique_prefix(target, ids))
    assert f"deleted {target}" in deleted.stdout
    after = json.loads(run_cli(data_dir, "documents", "list", "--json").stdout)
    assert after["total"] == 16 and target not in {i["id"] for i in after["items"]}
