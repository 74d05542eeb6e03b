"""The store check finds what failed vector deletes leave behind, and the reconcile repairs it,
on SQLite and PostgreSQL with the embedded vector store: through the service functions, the
scheduled reconcile, the admin API and the `ragops store` command.

The orphans are real: the vector store's deletes fail (`FailingDeletes` wraps the real store),
exactly as a store outage during an update or a delete would leave them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text as sql

from ragops.consistency import service
from ragops.consistency.scheduler import ReconcileScheduler
from ragops.db import migrate
from ragops.db.locks import RECONCILE_LOCK, try_advisory_lock
from ragops.documents import service as documents
from ragops.providers.vectorstore import SearchScope, VectorStore
from ragops.runtime import Runtime
from tests.conftest import backend_settings, run_cli, run_sync

TENANT = "default"
V1 = b"# Backups\n\nBackups run every night at two o'clock.\n\n## Retention\n\nKept seven days.\n"
V2 = b"# Backups\n\nBackups run every hour.\n\n## Retention\n\nKept thirty days.\n"
SECRET = b"# Salaries\n\nThe salary of the chief pilot is 123456 crowns a year.\n"


class FailingDeletes:
    """The real store whose deletes fail, as during a vector store outage."""

    def __init__(self, real: VectorStore) -> None:
        self.real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def delete_points(self, point_ids: Sequence[str]) -> None:
        raise ConnectionError("vector store unreachable")

    async def delete_document(self, *args: Any, **kwargs: Any) -> None:
        raise ConnectionError("vector store unreachable")


def _found(kind: str) -> float:
    labels = {"kind": kind, "outcome": "found"}
    return REGISTRY.get_sample_value("ragops_store_inconsistencies_total", labels) or 0.0


async def _make_inconsistent(runtime: Runtime) -> tuple[int, str, str]:
    """Leave orphans (an update and a delete whose vector deletes failed) and one chunk row
    without its point. Returns (orphan count, deleted document id, the missing chunk id)."""
    deps = runtime.ingest_deps
    first = await documents.ingest_bytes(
        deps, tenant_id=TENANT, collection="ops", source="backups.md", data=V1
    )
    secret = await documents.ingest_bytes(
        deps, tenant_id=TENANT, collection="hr", source="salaries.md", data=SECRET
    )
    failing = FailingDeletes(runtime.store)
    await documents.ingest_bytes(  # the update commits; version 1's points stay behind
        replace(deps, store=failing),
        tenant_id=TENANT,
        collection="ops",
        source="backups.md",
        data=V2,
    )
    await documents.delete_document(
        db=runtime.db, store=failing, tenant_id=TENANT, document_id=secret.document.id
    )
    hits = await runtime.store.search_sparse(
        runtime.retriever.encoder.encode_query("salary chief pilot"),
        SearchScope(tenant_id=TENANT),
        5,
    )
    assert any("123456" in hit.payload["text"] for hit in hits)  # the deleted text is still there
    async with runtime.db.session() as session:
        from sqlalchemy import select

        from ragops.documents.models import Chunk

        query = select(Chunk.id).where(Chunk.text.contains("thirty"))
        missing = (await session.execute(query)).scalar_one()
    await runtime.store.delete_points([missing])
    orphans = first.document.chunk_count + secret.document.chunk_count
    return orphans, secret.document.id, missing


async def test_check_finds_and_reconcile_removes_real_orphans(runtime: Runtime) -> None:
    orphans, _, missing = await _make_inconsistent(runtime)
    before = _found("orphan_point")

    young = await service.check(runtime.db, runtime.store, tenant_id=None, grace_seconds=3600)
    assert young.orphan_points == 0 and young.recent_points == orphans  # just written: not judged

    report = await service.check(runtime.db, runtime.store, tenant_id=None, grace_seconds=0)
    assert not report.consistent
    assert report.orphan_points == orphans and report.missing_points == 1
    assert report.missing_chunk_ids == [missing]
    assert {(s.collection, s.orphan_points) for s in report.scopes if s.orphan_points} == {
        ("ops", orphans - 1),
        ("hr", 1),
    }
    assert _found("orphan_point") == before + orphans
    other = await service.check(runtime.db, runtime.store, tenant_id="other", grace_seconds=0)
    assert other.consistent and other.points == 0

    repaired = await service.reconcile(
        runtime.db, runtime.store, runtime.retriever, tenant_id=None, grace_seconds=0
    )
    assert (repaired.removed, repaired.recreated) == (orphans, 1)
    after = await service.check(runtime.db, runtime.store, tenant_id=None, grace_seconds=0)
    assert after.consistent and after.points == after.chunk_rows
    hits = await runtime.store.search_sparse(
        runtime.retriever.encoder.encode_query("salary chief pilot"),
        SearchScope(tenant_id=TENANT),
        5,
    )
    assert not any("123456" in hit.payload["text"] for hit in hits)
    # the re-created point answers like the original
    found = await runtime.retriever.search(
        "How long are backups kept?", SearchScope(tenant_id=TENANT, collection="ops")
    )
    assert any("thirty days" in p.text for p in found.passages)


async def test_a_document_whose_chunk_rows_were_deleted_is_found_and_ingested_again(
    runtime: Runtime,
) -> None:
    """Chunk rows deleted by hand leave a document that answers nothing: the check names it
    (exit 1 in the CLI), and ingesting the same file again rebuilds it instead of skipping it
    as unchanged."""
    deps = runtime.ingest_deps
    kept = await documents.ingest_bytes(
        deps, tenant_id=TENANT, collection="ops", source="backups.md", data=V1
    )
    await documents.ingest_bytes(
        deps, tenant_id=TENANT, collection="hr", source="salaries.md", data=SECRET
    )
    assert kept.document is not None
    async with runtime.db.engine.begin() as conn:
        await conn.execute(
            sql("DELETE FROM chunks WHERE document_id = :id"), {"id": kept.document.id}
        )
    found = await service.check(runtime.db, runtime.store, tenant_id=TENANT, grace_seconds=0)
    assert not found.consistent
    assert found.documents_without_chunks == 1
    assert found.documents_without_chunks_sample == [
        f"{TENANT}/ops/backups.md ({kept.document.id})"
    ]
    # the reconcile removes the points the rows left behind; it cannot rebuild the text
    await service.reconcile(
        runtime.db, runtime.store, runtime.retriever, tenant_id=TENANT, grace_seconds=0
    )
    after = await service.check(runtime.db, runtime.store, tenant_id=TENANT, grace_seconds=0)
    assert (after.orphan_points, after.missing_points) == (0, 0)
    assert after.documents_without_chunks == 1 and not after.consistent

    again = await documents.ingest_bytes(
        deps, tenant_id=TENANT, collection="ops", source="backups.md", data=V1
    )
    assert again.status == "updated" and again.document is not None
    assert again.document.chunk_count == kept.document.chunk_count > 0
    untouched = await documents.ingest_bytes(
        deps, tenant_id=TENANT, collection="hr", source="salaries.md", data=SECRET
    )
    assert untouched.status == "unchanged"
    final = await service.check(runtime.db, runtime.store, tenant_id=TENANT, grace_seconds=0)
    assert final.consistent, final


async def test_scheduled_reconcile_repairs_and_takes_turns(runtime: Runtime) -> None:
    orphans, _, _ = await _make_inconsistent(runtime)
    runtime.settings = runtime.settings.model_copy(update={"store_reconcile_grace_seconds": 0})
    scheduler = ReconcileScheduler(runtime)
    if runtime.db.backend == "postgresql":  # another instance is reconciling: skip the turn
        async with try_advisory_lock(runtime.db.engine, RECONCILE_LOCK) as held:
            assert held
            assert await scheduler.run_once() is None
    scheduler.start(0.2)
    try:
        import asyncio

        for _ in range(100):
            if scheduler.last is not None:
                break
            await asyncio.sleep(0.1)
    finally:
        await scheduler.stop()
    assert scheduler.last is not None and scheduler.last.removed == orphans
    final = await service.check(runtime.db, runtime.store, tenant_id=None, grace_seconds=0)
    assert final.consistent


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_store_commands_and_admin_api(backend: str, tmp_path: Path, serve_app: Any) -> None:
    data_dir = tmp_path / "var"
    with backend_settings(backend, data_dir, store_reconcile_grace_seconds=0) as settings:

        async def prepare() -> int:
            await migrate.upgrade(settings)
            started = await Runtime.start(settings)
            try:
                orphans, _, _ = await _make_inconsistent(started)
                return orphans
            finally:
                await started.aclose()

        orphans = run_sync(prepare())
        env = {"RAGOPS_STORE_RECONCILE_GRACE_SECONDS": "0"}
        if backend == "postgres":
            env["RAGOPS_DATABASE_URL"] = str(settings.database_url)
        found = run_cli(data_dir, "store", "check", "--json", check=False, env=env)
        assert found.returncode == 1, found.stderr
        report = json.loads(found.stdout)
        assert (report["orphan_points"], report["missing_points"]) == (orphans, 1)
        text = run_cli(data_dir, "store", "check", check=False, env=env)
        assert text.returncode == 1 and "ragops store reconcile" in text.stdout
        # a mistyped tenant is named, not checked as an empty one
        for command in ("check", "reconcile"):
            unknown = run_cli(
                data_dir, "store", command, "--tenant", "nosuch", check=False, env=env
            )
            assert unknown.returncode == 1, unknown.stdout
            assert "tenant nosuch not found" in unknown.stderr, unknown.stderr
            assert "chunk rows" not in unknown.stdout

        # the admin API, on the running server (the CLI goes through it too)
        live = serve_app(settings)
        with live.client() as client:
            checked = client.get("/v1/admin/store/check")
            assert checked.status_code == 200 and checked.json()["orphan_points"] == orphans
            repaired = client.post("/v1/admin/store/reconcile")
            assert repaired.status_code == 200
            assert (repaired.json()["removed"], repaired.json()["recreated"]) == (orphans, 1)
            assert client.get("/v1/admin/store/check").json()["orphan_points"] == 0
