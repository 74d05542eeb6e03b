"""Admin HTTP routes: API keys and the audit trail of the caller's own tenant (scope admin).

A new or rotated key is in the response once (`Cache-Control: no-store`) and never again.
Every call is an audit event; key changes are recorded in the same transaction as the change.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import timedelta
from typing import Annotated, TypeVar

from fastapi import APIRouter, Body, Query, Response

from ragops.api.deps import AuditDep, RuntimeDep, TenantDep, require_scope
from ragops.api.openapi import responses
from ragops.auth import service
from ragops.auth.audit import list_events
from ragops.auth.models import (
    DURATION_PATTERN,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    ApiKeyRotate,
    AuditEventRead,
    parse_duration,
)
from ragops.db.base import utcnow
from ragops.errors import RagopsError, ValidationFailed

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[require_scope("admin")])

NO_STORE = {"Cache-Control": "no-store"}
T = TypeVar("T")


def _lifetime(value: str | None) -> timedelta | None:
    return parse_duration(value) if value is not None else None


async def _audited(audit: AuditDep, action: str, target: str, work: Awaitable[T]) -> T:
    """Await `work`; a refused key change is recorded as a failure (successes record
    themselves in the key service)."""
    try:
        return await work
    except RagopsError as exc:
        await audit.record(action, target=target, outcome="failure", detail={"code": exc.code})
        raise


@router.get("/keys", response_model=list[ApiKeyRead])
async def list_keys(runtime: RuntimeDep, tenant_id: TenantDep, audit: AuditDep) -> list[ApiKeyRead]:
    """The tenant's keys, newest first (prefixes only; a key is never shown again)."""
    keys = await service.list_keys(db=runtime.db, tenant_id=tenant_id)
    await audit.record("admin.keys.list", detail={"count": len(keys)})
    return keys


@router.post("/keys", response_model=ApiKeyCreated, status_code=201)
async def create_key(
    runtime: RuntimeDep,
    tenant_id: TenantDep,
    audit: AuditDep,
    body: ApiKeyCreate,
    response: Response,
) -> ApiKeyCreated:
    """Create a key of the caller's tenant; the response is the only time it is shown."""
    response.headers.update(NO_STORE)
    return await _audited(
        audit,
        "key.create",
        tenant_id,
        service.create_key(
            db=runtime.db,
            tenant_id=tenant_id,
            scopes=list(body.scopes),
            name=body.name,
            lifetime=_lifetime(body.expires),
            actor=audit.actor,
        ),
    )


@router.post("/keys/{key_id}/revoke", response_model=ApiKeyRead)
async def revoke_key(
    runtime: RuntimeDep, tenant_id: TenantDep, audit: AuditDep, key_id: str
) -> ApiKeyRead:
    """Revoke one of the tenant's keys at once."""
    return await _audited(
        audit,
        "key.revoke",
        key_id,
        service.revoke_key(db=runtime.db, key_id=key_id, tenant_id=tenant_id, actor=audit.actor),
    )


@router.post(
    "/keys/{key_id}/rotate",
    response_model=ApiKeyCreated,
    status_code=201,
    responses=responses(409),
)
async def rotate_key(
    runtime: RuntimeDep,
    tenant_id: TenantDep,
    audit: AuditDep,
    key_id: str,
    response: Response,
    body: Annotated[ApiKeyRotate | None, Body()] = None,
) -> ApiKeyCreated:
    """Issue a successor; the old key works for `api_key_rotation_overlap_hours`, then expires."""
    response.headers.update(NO_STORE)
    overlap = timedelta(hours=runtime.settings.api_key_rotation_overlap_hours)
    return await _audited(
        audit,
        "key.rotate",
        key_id,
        service.rotate_key(
            db=runtime.db,
            key_id=key_id,
            tenant_id=tenant_id,
            overlap=overlap,
            lifetime=_lifetime(body.expires if body else None),
            actor=audit.actor,
        ),
    )


@router.get("/audit-events", response_model=list[AuditEventRead])
async def audit_events(
    runtime: RuntimeDep,
    tenant_id: TenantDep,
    audit: AuditDep,
    since: Annotated[
        str, Query(pattern=DURATION_PATTERN, description="How far back, such as 24h or 7d.")
    ] = "24h",
    action: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[AuditEventRead]:
    """The tenant's audit events since `since`, oldest first (an empty `action` filters
    nothing)."""
    action = action or None
    try:
        start = utcnow() - parse_duration(since)
    except ValueError as exc:
        raise ValidationFailed(str(exc), code="invalid_since") from exc
    await audit.record("admin.audit.read", detail={"since": since, "action": action})
    return await list_events(
        db=runtime.db, tenant_id=tenant_id, since=start, action=action, limit=limit
    )
