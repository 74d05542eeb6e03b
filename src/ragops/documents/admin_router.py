"""Admin HTTP route of the reindex: `POST /v1/admin/reindex` rebuilds the vector points of the
caller's tenant's collections (or one) from the database (admin scope; an audit event).

It runs within the request, so its size is bounded: a scope of more than `API_MAX_CHUNKS`
chunks is refused (413) before anything is written, with the way to do it instead (one
collection at a time, or `ragops documents reindex` with the service stopped)."""

from __future__ import annotations

from fastapi import APIRouter

from ragops.api.deps import AuditDep, RuntimeDep, TenantDep, require_scope
from ragops.api.openapi import responses as error_responses
from ragops.documents import reindex as reindexing
from ragops.documents.models import ReindexRequest, ReindexResult
from ragops.errors import RagopsError

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[require_scope("admin")])

API_MAX_CHUNKS = 5_000
"""Most chunks one request rebuilds: about two minutes on two cores with the default embedder
(`bench/reindex.py`: 694 chunks in 16 s), within the CLI's five-minute wait."""


class ReindexTooLarge(RagopsError):
    """The scope holds more chunks than one request rebuilds."""

    status = 413
    code = "reindex_too_large"


@router.post(
    "/reindex",
    response_model=ReindexResult,
    responses=error_responses(404),
)
async def reindex(
    runtime: RuntimeDep, tenant_id: TenantDep, audit: AuditDep, body: ReindexRequest | None = None
) -> ReindexResult:
    """Rebuild the vector points of the tenant's current chunks (all collections, or one) in
    the configured store, and bump each collection's corpus version (cached answers of the
    old vectors are not served). Idempotent: run it again after a failure. The body (every
    field optional) may be left out."""
    body = body or ReindexRequest()
    deps = runtime.ingest_deps
    found = await reindexing.targets(
        deps,
        tenant_id=tenant_id,
        collection=body.collection,
        default=runtime.settings.default_collection,
    )
    chunks = sum(target.chunks for target in found)
    if chunks > API_MAX_CHUNKS:
        raise ReindexTooLarge(
            f"{chunks} chunks are more than one request rebuilds ({API_MAX_CHUNKS}): reindex "
            "one collection at a time, or stop the service and run `ragops documents "
            "reindex` on its host"
        )
    result = await reindexing.reindex(
        deps,
        tenant_id=tenant_id,
        collection=body.collection,
        batch_size=body.batch_size,
        found=found,
    )
    await audit.record(
        "admin.documents.reindex",
        target=body.collection,
        detail={"documents": result.documents, "chunks": result.chunks},
    )
    return result
