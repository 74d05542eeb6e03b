"""FastAPI dependencies shared by every router, exposed as annotated types.

The tenant comes from the caller's API key (`ragops.auth.dependencies.authenticate`): every
route that takes `TenantDep` requires a working key. Scope checks go into route decorators:
`@router.post(..., dependencies=[require_scope("ingest")])`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ragops.auth.dependencies import (
    AuditDep,
    PrincipalDep,
    RequestAudit,
    authenticate,
    check_operator,
    require_operator,
    require_scope,
)
from ragops.auth.service import DEFAULT_TENANT, Principal
from ragops.observability.context import current_request_id
from ragops.runtime import Runtime

__all__ = [
    "DEFAULT_TENANT",
    "AuditDep",
    "Principal",
    "PrincipalDep",
    "RequestAudit",
    "RequestIdDep",
    "RuntimeDep",
    "TenantDep",
    "authenticate",
    "check_operator",
    "get_request_id",
    "get_runtime",
    "get_tenant",
    "require_operator",
    "require_scope",
]


def get_runtime(request: Request) -> Runtime:
    """The process's components, built at start-up."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_tenant(principal: PrincipalDep) -> str:
    """The tenant whose data the request may see: the one of its API key."""
    return principal.tenant_id


def get_request_id() -> str:
    """The id of this request (from `X-Request-ID` or generated)."""
    return current_request_id()


# FastAPI runs a plain `def` dependency in a worker thread: two thread hops a request for two
# attribute reads. The dependencies below are the same reads as coroutines, on the loop.


async def _runtime(request: Request) -> Runtime:
    return get_runtime(request)


async def _request_id() -> str:
    return current_request_id()


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
TenantDep = Annotated[str, Depends(get_tenant)]
RequestIdDep = Annotated[str, Depends(_request_id)]
