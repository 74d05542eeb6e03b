"""Admin HTTP route of the answer cache: clear the caller's tenant's cached answers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ragops.api.deps import AuditDep, RuntimeDep, TenantDep, require_scope
from ragops.api.openapi import responses as error_responses
from ragops.cache.models import CacheClearResult
from ragops.config.names import COLLECTION_NAME_RE
from ragops.documents import catalog

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[require_scope("admin")])


@router.delete("/cache", response_model=CacheClearResult, responses=error_responses(404))
async def clear_cache(
    runtime: RuntimeDep,
    tenant_id: TenantDep,
    audit: AuditDep,
    collection: Annotated[
        str | None,
        Query(pattern=COLLECTION_NAME_RE.pattern, description="Only this collection."),
    ] = None,
) -> CacheClearResult:
    """Make every cached answer of the tenant (or of one collection) unreachable on every
    instance, and delete the entries from the cache backend. A collection the tenant does not
    have is 404 `collection_not_found`, as on every route naming one."""
    if collection is not None:
        await catalog.require_collection(
            db=runtime.db,
            tenant_id=tenant_id,
            name=collection,
            default=runtime.settings.default_collection,
        )
    if runtime.answers is None:
        result = CacheClearResult(
            tenant_id=tenant_id, collection=collection, scopes=0, entries_removed=0
        )
    else:
        result = await runtime.answers.clear(tenant_id=tenant_id, collection=collection)
    await audit.record(
        "admin.cache.clear",
        target=collection,
        detail={"scopes": result.scopes, "entries_removed": result.entries_removed},
    )
    return result
