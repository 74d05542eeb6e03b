"""FastAPI dependencies of authentication: the caller's key, its tenant and scopes.

`authenticate` reads the key from `Authorization: Bearer <key>` (what the openai client
sends) or `X-API-Key: <key>`, checks it and returns the `Principal`; a missing, unknown,
expired or revoked key is a 401 `unauthorized` with `WWW-Authenticate: Bearer`, and an audit
event (`auth.failure`, aggregated per address and minute by `refusals.RefusalAuditor`).
`require_scope("ingest")` goes into a route decorator's `dependencies` and answers 403
`forbidden` when the key lacks the scope (an `auth.forbidden` event each).
`require_operator()` guards the routes that act for the whole service rather than one tenant
(incidents, on-call, database pools): an admin key of the operator tenant "default" only, 403
`forbidden` for any other. With `auth_enabled` off every request acts as tenant "default"
with every scope.

The principal is kept on `request.state.principal` for later layers (rate limits by key id).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from ragops.auth import service
from ragops.auth.audit import record_event
from ragops.auth.models import Outcome, Scope
from ragops.auth.refusals import RefusalAuditor
from ragops.auth.service import (
    DEFAULT_TENANT,
    OPEN_PRINCIPAL,
    Actor,
    AuthenticationFailed,
    Principal,
)
from ragops.db import Database
from ragops.observability import metrics
from ragops.observability.context import current_request_id, tenant_id_var
from ragops.security import proxies

bearer_scheme = HTTPBearer(
    auto_error=False, description="An API key: `Authorization: Bearer rgo_...`"
)
api_key_scheme = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key: `X-API-Key: rgo_...`"
)


def client_address(request: Request) -> str | None:
    """The client's address: the socket peer, or behind a trusted proxy the forwarded one."""
    return proxies.client_address(request) or None


def _db(request: Request) -> Database:
    db: Database = request.app.state.runtime.db
    return db


async def authenticate(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Principal:
    """The principal of the request's API key; 401 when there is no working key."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    if not request.app.state.runtime.settings.auth_enabled:
        principal = OPEN_PRINCIPAL
    else:
        presented = (bearer.credentials if bearer else None) or api_key
        try:
            if not presented or not presented.strip():
                raise AuthenticationFailed("missing")
            principal = await service.authenticate(db=_db(request), key=presented.strip())
        except AuthenticationFailed as exc:
            metrics.record_auth_failure(exc.reason)
            await _record_failure(request, exc, presented)
            raise HTTPException(401, exc.message, headers={"WWW-Authenticate": "Bearer"}) from None
    request.state.principal = principal
    tenant_id_var.set(principal.tenant_id)
    return principal


PrincipalDep = Annotated[Principal, Depends(authenticate)]


async def _record_failure(
    request: Request, exc: AuthenticationFailed, presented: str | None
) -> None:
    """The audit event of a request without a working key (`auth.failure`), through the
    application's `RefusalAuditor`: the first of a window at once, the rest as one summary.
    The presented key only goes in as a digest that counts different keys."""
    auditor: RefusalAuditor = request.app.state.refusal_auditor
    await auditor.auth_failure(
        reason=exc.reason,
        target=f"{request.method} {request.url.path}",
        client_address=client_address(request),
        tenant_id=exc.tenant_id,
        key_id=exc.key_id,
        key_digest=service.hash_key(presented)[:16] if presented else None,
    )


async def _record_forbidden(request: Request, principal: Principal, detail: dict[str, str]) -> None:
    """The audit event of a working key not allowed the route (`auth.forbidden`), one each."""
    await record_event(
        db=_db(request),
        action="auth.forbidden",
        outcome="denied",
        tenant_id=principal.tenant_id,
        actor_key_id=principal.key_id,
        target=f"{request.method} {request.url.path}",
        client_address=client_address(request),
        detail=detail,
    )


def require_scope(scope: Scope) -> Any:
    """A dependency for a route decorator: the key must carry `scope` (else 403)."""

    async def check(request: Request, principal: PrincipalDep) -> Principal:
        if not principal.allows(scope):
            await _record_forbidden(request, principal, {"required_scope": scope})
            raise HTTPException(403, f"this API key lacks the '{scope}' scope")
        return principal

    check.__name__ = f"require_{scope}_scope"
    return Depends(check)


OPERATOR_ONLY = (
    f"this route acts for the whole service, not one tenant: it needs an admin key of tenant "
    f"'{DEFAULT_TENANT}'"
)


async def check_operator(request: Request, principal: Principal) -> Principal:
    """`principal` when it is an admin of the operator tenant; else an audit event and 403."""
    if principal.allows("admin") and principal.tenant_id == DEFAULT_TENANT:
        return principal
    detail = {"required_scope": "admin", "required_tenant": DEFAULT_TENANT}
    await _record_forbidden(request, principal, detail)
    raise HTTPException(403, OPERATOR_ONLY)


def require_operator() -> Any:
    """A dependency for a service-wide route: an admin key of tenant "default" (else 403)."""

    async def check(request: Request, principal: PrincipalDep) -> Principal:
        return await check_operator(request, principal)

    return Depends(check)


class RequestAudit:
    """Records audit events of one request, naming its tenant, key, address and request id."""

    def __init__(self, request: Request, principal: Principal) -> None:
        self.request = request
        self.principal = principal

    @property
    def actor(self) -> Actor:
        """The request as the key service's audit actor."""
        return Actor(
            key_id=self.principal.key_id,
            client_address=client_address(self.request),
            request_id=current_request_id(),
            interface="api",
        )

    async def record(
        self,
        action: str,
        *,
        target: str | None = None,
        outcome: Outcome = "success",
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Append one event of this request to the audit trail."""
        await record_event(
            db=_db(self.request),
            action=action,
            outcome=outcome,
            tenant_id=self.principal.tenant_id,
            actor_key_id=self.principal.key_id,
            target=target,
            client_address=client_address(self.request),
            detail=detail,
        )


async def get_request_audit(request: Request, principal: PrincipalDep) -> RequestAudit:
    """The audit recorder of this request."""
    return RequestAudit(request, principal)


AuditDep = Annotated[RequestAudit, Depends(get_request_audit)]
