"""On-call HTTP routes.

- `GET /v1/ops/oncall?weeks=4` (admin scope): who is on call now in each layer and the shifts
  of the next weeks (the ops console's on-call page reads it).
- `GET /ops/oncall/calendar.ics?token=...`: the schedule as an iCalendar feed for calendar
  apps, protected by `RAGOPS_ONCALL_CALENDAR_TOKEN` (404 while no token is set).

Both read the rotation file (`RAGOPS_ONCALL_ROTATION_FILE`) on each request, so an edited
file or a new override shows at once (a broken edit is logged and they answer from the last
good rotations, as paging does); without one they answer 404.
"""

from __future__ import annotations

import hmac
import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response

from ragops.api.deps import RuntimeDep, require_operator
from ragops.api.openapi import responses as error_responses
from ragops.config import Settings
from ragops.errors import NotFoundError, ServiceUnavailable
from ragops.oncall.calendar import to_ics
from ragops.oncall.policy import LAYERS, PolicyError
from ragops.oncall.rotations import RotationConfig, load_rotations
from ragops.oncall.schedule import on_call, schedule

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/ops/oncall", tags=["on-call"])
feed = APIRouter(include_in_schema=False)


def _rotations(request: Request, settings: Settings) -> RotationConfig:
    """The rotation file as it is now; when an edit broke it, the last good rotations the
    escalation engine holds (read at start-up or on its last pass), as paging does."""
    if settings.oncall_rotation_file is None:
        raise NotFoundError("no rotation file is configured (RAGOPS_ONCALL_ROTATION_FILE)")
    try:
        return load_rotations(settings.oncall_rotation_file)
    except PolicyError as exc:
        engine = getattr(request.app.state, "escalation", None)
        kept: RotationConfig | None = engine.ctx.rotations if engine is not None else None
        if kept is None:
            logger.error("rotation file invalid: %s", exc)
            raise ServiceUnavailable(
                "the rotation file is invalid (the service log names the problem)",
                code="invalid_rotation_file",
            ) from None
        logger.error("rotation file invalid, answering from the last good one: %s", exc)
        return kept


@router.get("", dependencies=[require_operator()], responses=error_responses(404))
async def now_and_next(
    runtime: RuntimeDep, request: Request, weeks: Annotated[int, Query(ge=1, le=26)] = 4
) -> dict[str, Any]:
    """Who is on call now and the shifts of the next `weeks` weeks."""
    config = _rotations(request, runtime.settings)
    now = datetime.now(UTC)
    current = []
    for layer in LAYERS:
        member, source = on_call(config, layer, now)
        current.append({"layer": layer, "member": member, "source": source})
    shifts = [
        {
            "layer": shift.layer,
            "member": shift.member,
            "start": shift.start.isoformat(),
            "end": shift.end.isoformat(),
            "source": shift.source,
            "reason": shift.reason,
        }
        for layer_shifts in schedule(config, now, now + timedelta(weeks=weeks)).values()
        for shift in layer_shifts
    ]
    return {"at": now.isoformat(), "timezone": config.timezone, "now": current, "shifts": shifts}


@feed.get("/ops/oncall/calendar.ics", response_class=Response)
async def calendar(
    runtime: RuntimeDep,
    request: Request,
    token: Annotated[str, Query(max_length=256)] = "",
    weeks: Annotated[int, Query(ge=1, le=52)] = 12,
) -> Response:
    """The schedule as iCalendar, for calendar subscriptions (token in the URL)."""
    expected = runtime.settings.oncall_calendar_token
    if expected is None:
        raise HTTPException(404, "the calendar feed is off (set RAGOPS_ONCALL_CALENDAR_TOKEN)")
    if not hmac.compare_digest(token.encode(), expected.get_secret_value().encode()):
        raise HTTPException(403, "a valid calendar token is required")
    config = _rotations(request, runtime.settings)
    now = datetime.now(UTC)
    start = now - timedelta(weeks=1)
    data = to_ics(config, start, now + timedelta(weeks=weeks), now=now)
    return Response(
        data,
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "private, max-age=300"},
    )
