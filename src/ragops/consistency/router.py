"""Admin HTTP routes of the store consistency (admin scope; the caller's tenant only).

- `GET /v1/admin/store/check`: orphan points and chunk rows without points.
- `POST /v1/admin/store/reconcile`: remove the orphans, re-create the missing points
  (an audit event).
"""

from __future__ import annotations

from fastapi import APIRouter

from ragops.api.deps import AuditDep, RuntimeDep, TenantDep, require_scope
from ragops.consistency import service
from ragops.consistency.models import StoreReport
from ragops.consistency.scheduler import reconcile_lifespan

router = APIRouter(
    prefix="/v1/admin/store",
    tags=["admin"],
    dependencies=[require_scope("admin")],
    lifespan=reconcile_lifespan,
)


@router.get("/check", response_model=StoreReport)
async def check_store(runtime: RuntimeDep, tenant_id: TenantDep) -> StoreReport:
    """Compare the tenant's chunk rows with its vector points (changes nothing)."""
    return await service.check(
        runtime.db,
        runtime.store,
        tenant_id=tenant_id,
        grace_seconds=runtime.settings.store_reconcile_grace_seconds,
    )


@router.post("/reconcile", response_model=StoreReport)
async def reconcile_store(
    runtime: RuntimeDep, tenant_id: TenantDep, audit: AuditDep
) -> StoreReport:
    """Remove the tenant's orphan points and re-create its missing ones."""
    report = await service.reconcile(
        runtime.db,
        runtime.store,
        runtime.retriever,
        tenant_id=tenant_id,
        grace_seconds=runtime.settings.store_reconcile_grace_seconds,
    )
    await audit.record(
        "admin.store.reconcile",
        detail={"removed": report.removed, "recreated": report.recreated},
    )
    return report
