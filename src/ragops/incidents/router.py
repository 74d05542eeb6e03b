"""Incident HTTP routes under `/v1/ops` (an admin key of the operator tenant "default":
incidents concern the whole service), the Alertmanager webhook and the one-click acknowledge
link.

- `POST /v1/ops/alerts/webhook`: Alertmanager's webhook (payload version 4); authenticated by
  `RAGOPS_ALERT_WEBHOOK_TOKEN` as a bearer token or an admin key of tenant "default".
- `POST /v1/ops/pagerduty/webhook`: PagerDuty's Generic Webhooks V3 (incident acknowledged or
  resolved in PagerDuty); signed with `RAGOPS_PAGERDUTY_WEBHOOK_SECRET`, 404 while it is unset.
- `GET|POST /v1/ops/incidents...`: list, declare, show, acknowledge, notes, severity, status,
  fields and action items. `actor` names the responder (default: the API key's id).
- `GET /ops/incidents/{id}/ack?expires&sig`: the signed link of a page; no key.
- `GET /ops/incidents[/{id}]`, `GET /ops/oncall`: the console pages (static; their data comes
  from the admin API with the key entered on the page).

A webhook that opens an incident wakes the escalation engine, which pages the primary.
"""

from __future__ import annotations

import hmac
import logging
from importlib.resources import files
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from ragops.api.deps import (
    PrincipalDep,
    RuntimeDep,
    authenticate,
    check_operator,
    require_operator,
)
from ragops.api.openapi import ErrorBody
from ragops.api.openapi import responses as error_responses
from ragops.auth.dependencies import client_address
from ragops.auth.refusals import RefusalAuditor
from ragops.auth.service import Principal
from ragops.db.base import utcnow
from ragops.incidents import actions, links, pagerduty, service
from ragops.incidents.alerts import AlertmanagerPayload, ingest
from ragops.incidents.escalation import escalation_lifespan
from ragops.incidents.models import (
    ActionItemCreate,
    ActionItemRead,
    IncidentCreate,
    IncidentDetail,
    IncidentRead,
    IncidentUpdate,
    NoteCreate,
    SeverityChange,
    StatusChange,
)
from ragops.observability import metrics
from ragops.schema import MAX_DB_INT

logger = logging.getLogger(__name__)

IncidentId = Annotated[int, Path(ge=1, le=MAX_DB_INT, description="The incident's number.")]

router = APIRouter(prefix="/v1/ops", tags=["incidents"], lifespan=escalation_lifespan)
admin = APIRouter(prefix="/v1/ops", tags=["incidents"], dependencies=[require_operator()])
pages = APIRouter(include_in_schema=False)

_PAGE = files("ragops.web").joinpath("static/incidents.html")

_bearer = HTTPBearer(auto_error=False)
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False)

ActorQuery = Annotated[str | None, Query(max_length=128, description="Who acts.")]
StatusFilter = Annotated[
    str, Query(pattern="^(open|all|triggered|acknowledged|mitigated|resolved)$")
]


async def _changed(request: Request) -> None:
    """After a change: refresh the open-incidents gauge and let the escalation engine run a
    pass now (a page or a notice may be due)."""
    runtime = request.app.state.runtime
    metrics.set_open_incidents(await service.open_counts(db=runtime.db))
    engine = getattr(request.app.state, "escalation", None)
    if engine is not None:
        engine.wake()


def _actor(principal: Principal, actor: str | None) -> str:
    return actor or f"key:{principal.key_id or 'open'}"


async def webhook_caller(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> str:
    """ "alertmanager" for the webhook token, else an admin key's principal (401/403)."""
    token = request.app.state.runtime.settings.alert_webhook_token
    if token is not None and bearer is not None:
        if hmac.compare_digest(bearer.credentials.encode(), token.get_secret_value().encode()):
            return "alertmanager"
    principal = await authenticate(request, bearer, api_key)
    await check_operator(request, principal)
    return "alertmanager"


@router.post("/alerts/webhook", status_code=200)
async def alert_webhook(
    payload: AlertmanagerPayload,
    runtime: RuntimeDep,
    request: Request,
    _caller: Annotated[str, Depends(webhook_caller)],
) -> dict[str, object]:
    """Receive an Alertmanager notification: open/attach an incident, record the alerts."""
    result = await ingest(db=runtime.db, payload=payload)
    if result.opened:
        await _changed(request)
    return {
        "incident_id": result.incident_id,
        "opened": result.opened,
        "events": result.events,
    }


PAGERDUTY_OFF = "the PagerDuty webhook is off (set RAGOPS_PAGERDUTY_WEBHOOK_SECRET)"
PAGERDUTY_UNSIGNED = (
    f"a valid {pagerduty.SIGNATURE_HEADER} header is required: v1=<hex HMAC-SHA256 of the "
    "body with the webhook subscription's secret>"
)


async def pagerduty_signed(request: Request) -> None:
    """404 while the webhook is off; 401 (counted, and an `auth.failure` audit event) unless
    a signature of the delivery matches its raw body. Runs before the body is validated."""
    secret = request.app.state.runtime.settings.pagerduty_webhook_secret
    if secret is None:
        raise HTTPException(404, PAGERDUTY_OFF)
    header = request.headers.get(pagerduty.SIGNATURE_HEADER)
    if pagerduty.signature_valid(secret.get_secret_value(), await request.body(), header):
        return
    reason = "pagerduty_signature"
    metrics.record_auth_failure(reason)
    auditor: RefusalAuditor = request.app.state.refusal_auditor
    await auditor.auth_failure(  # a flood of forged deliveries writes a row a minute
        reason=reason,
        target=f"{request.method} {request.url.path}",
        client_address=client_address(request),
        signature="missing" if not header else "mismatch",
    )
    raise HTTPException(
        401, PAGERDUTY_UNSIGNED, headers={"WWW-Authenticate": 'Signature realm="pagerduty"'}
    )


@router.post(
    "/pagerduty/webhook",
    status_code=200,
    dependencies=[Depends(pagerduty_signed)],
    responses={
        401: {"model": ErrorBody, "description": f"No valid {pagerduty.SIGNATURE_HEADER}."},
        404: {"model": ErrorBody, "description": "The webhook is off (no secret is set)."},
    },
)
async def pagerduty_webhook(
    payload: pagerduty.PagerDutyWebhook, runtime: RuntimeDep, request: Request
) -> pagerduty.PagerDutyWebhookResult:
    """Receive a PagerDuty webhook (V3): an incident acknowledged or resolved in PagerDuty
    acknowledges or resolves the ragops incident of its `incident_key`; other events and
    unknown incidents are ignored (200, with the reason)."""
    result = await pagerduty.apply_event(db=runtime.db, webhook=payload)
    if result.outcome == "applied":
        await _changed(request)
    else:
        logger.info(
            "PagerDuty event %s (%s) ignored: %s",
            payload.event.id,
            payload.event.event_type,
            result.reason,
        )
    return result


@pages.get("/ops/incidents/{incident_id}/ack", response_class=HTMLResponse)
async def ack_link(
    incident_id: IncidentId,
    runtime: RuntimeDep,
    request: Request,
    expires: Annotated[int, Query()],
    sig: Annotated[str, Query(max_length=128)],
) -> HTMLResponse:
    """Acknowledge through the signed link of a page (no API key needed)."""
    problem = links.verify(runtime.settings, incident_id, expires, sig, utcnow())
    if problem is not None:
        raise HTTPException(403, problem)
    incident = await service.acknowledge(db=runtime.db, incident_id=incident_id, actor="ack-link")
    await _changed(request)
    body = (
        f"<!doctype html><title>Incident {incident.id}</title>"
        f"<p>Incident {incident.id} is <b>{incident.status}</b>.</p>"
    )
    return HTMLResponse(body, headers={"Cache-Control": "no-store"})


@admin.get("/incidents", response_model=list[IncidentRead])
async def list_incidents(
    runtime: RuntimeDep,
    status: StatusFilter = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[IncidentRead]:
    """Incidents, newest first (default: the open ones)."""
    return await service.get_all(db=runtime.db, status=status, limit=limit)


@admin.post("/incidents", response_model=IncidentRead, status_code=201)
async def declare(
    body: IncidentCreate,
    runtime: RuntimeDep,
    request: Request,
    principal: PrincipalDep,
    actor: ActorQuery = None,
) -> IncidentRead:
    """Declare an incident by hand; it is paged like an alert's."""
    incident = await service.create(
        db=runtime.db, actor=_actor(principal, actor), **body.model_dump()
    )
    await _changed(request)
    return incident


@admin.get("/incidents/{incident_id}", response_model=IncidentDetail)
async def show(incident_id: IncidentId, runtime: RuntimeDep) -> IncidentDetail:
    """One incident with its timeline, alerts and action items."""
    return await service.get_or_raise(db=runtime.db, incident_id=incident_id)


@admin.post("/incidents/{incident_id}/ack", response_model=IncidentRead)
async def acknowledge(
    incident_id: IncidentId,
    runtime: RuntimeDep,
    request: Request,
    principal: PrincipalDep,
    actor: ActorQuery = None,
) -> IncidentRead:
    """Acknowledge: stops the escalation."""
    incident = await service.acknowledge(
        db=runtime.db, incident_id=incident_id, actor=_actor(principal, actor)
    )
    await _changed(request)
    return incident


@admin.post("/incidents/{incident_id}/notes", response_model=IncidentRead)
async def note(
    incident_id: IncidentId,
    body: NoteCreate,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    actor: ActorQuery = None,
) -> IncidentRead:
    """Add a note (or, with `status_update`, the latest customer-facing update)."""
    return await service.add_note(
        db=runtime.db, incident_id=incident_id, actor=_actor(principal, actor), **body.model_dump()
    )


@admin.post("/incidents/{incident_id}/severity", response_model=IncidentRead)
async def severity(
    incident_id: IncidentId,
    body: SeverityChange,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    actor: ActorQuery = None,
) -> IncidentRead:
    """Change the severity."""
    return await service.change_severity(
        db=runtime.db,
        incident_id=incident_id,
        severity=body.severity,
        actor=_actor(principal, actor),
    )


@admin.post(
    "/incidents/{incident_id}/status",
    response_model=IncidentRead,
    responses=error_responses(409),
)
async def status(
    incident_id: IncidentId,
    body: StatusChange,
    runtime: RuntimeDep,
    request: Request,
    principal: PrincipalDep,
    actor: ActorQuery = None,
) -> IncidentRead:
    """Move the status forward (mitigated, resolved) or reopen a resolved incident."""
    incident = await service.set_status(
        db=runtime.db,
        incident_id=incident_id,
        status=body.status,
        message=body.message,
        actor=_actor(principal, actor),
    )
    await _changed(request)
    return incident


@admin.patch("/incidents/{incident_id}", response_model=IncidentRead)
async def update(
    incident_id: IncidentId,
    body: IncidentUpdate,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    actor: ActorQuery = None,
) -> IncidentRead:
    """Change commander, participants, customer-facing flag or impact."""
    return await service.update(
        db=runtime.db,
        incident_id=incident_id,
        actor=_actor(principal, actor),
        changes=body.model_dump(exclude_unset=True),
    )


@admin.post("/incidents/{incident_id}/action-items", response_model=ActionItemRead, status_code=201)
async def add_action_item(
    incident_id: IncidentId,
    body: ActionItemCreate,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    actor: ActorQuery = None,
) -> ActionItemRead:
    """Store a postmortem action item with its owner and due date."""
    return await actions.add_action_item(
        db=runtime.db, incident_id=incident_id, actor=_actor(principal, actor), **body.model_dump()
    )


@admin.get("/action-items", response_model=list[ActionItemRead])
async def action_items(
    runtime: RuntimeDep, include_done: Annotated[bool, Query()] = False
) -> list[ActionItemRead]:
    """Action items of every incident, by due date."""
    return await actions.list_action_items(db=runtime.db, open_only=not include_done)


@pages.get("/ops/incidents", response_class=HTMLResponse)
@pages.get("/ops/incidents/{incident_id}", response_class=HTMLResponse)
@pages.get("/ops/oncall", response_class=HTMLResponse)
async def console_page() -> HTMLResponse:
    """The console pages of incidents and on-call (their data needs an admin key)."""
    return HTMLResponse(_PAGE.read_text(encoding="utf-8"))
