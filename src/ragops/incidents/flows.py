"""Paging flows: who to page for a layer, building the page, sending it through every
channel and recording the outcome on the incident's timeline.

Pages are claimed before they are sent: a `PageRecord` with outcome "claimed" is committed
first, then the channel is called and the record updated to "sent" or "failed". A process
that dies in between leaves a claimed record and never sends that page twice.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from ragops.config import Settings
from ragops.db import Database
from ragops.incidents import links
from ragops.incidents.models import Incident, IncidentEvent, PageRecord
from ragops.observability import metrics
from ragops.oncall.policy import Layer, SeverityPolicy
from ragops.oncall.rotations import RotationConfig
from ragops.oncall.schedule import on_call
from ragops.providers.notifier import Notifier, NotifyError, Page, Recipient
from ragops.providers.notifier.base import PageAction
from ragops.schema import MAX_DB_INT

logger = logging.getLogger(__name__)


@dataclass
class PagingContext:
    """What paging needs: settings, database, channels, policy and rotations."""

    settings: Settings
    db: Database
    notifiers: list[Notifier]
    policy: SeverityPolicy
    rotations: RotationConfig | None


def recipient(rotations: RotationConfig | None, layer: Layer, at: datetime) -> Recipient | None:
    """Who is on call for `layer` at `at`, with their contact (None: nobody known)."""
    if rotations is None:
        return None
    member, _ = on_call(rotations, layer, at)
    if member is None:
        return None
    return person(rotations, member, layer=layer)


def person(rotations: RotationConfig | None, name: str, *, layer: str) -> Recipient:
    """`name` as a recipient, with the contact the rotation file gives (if any)."""
    contact = rotations.contacts.get(name) if rotations else None
    return Recipient(
        name=name,
        layer=layer,
        email=contact.email if contact else None,
        slack=contact.slack if contact else None,
    )


DEDUP_PREFIX = "ragops-incident-"
_DEDUP_KEY = re.compile(re.escape(DEDUP_PREFIX) + r"([1-9][0-9]{0,9})")


def dedup_key(incident_id: int) -> str:
    """The stable key of an incident in paging services (PagerDuty's dedup_key)."""
    return f"{DEDUP_PREFIX}{incident_id}"


def incident_of(key: str | None) -> int | None:
    """The incident number a `dedup_key` names (PagerDuty hands it back as the incident's
    `incident_key`); None for a key ragops did not make."""
    found = _DEDUP_KEY.fullmatch(key or "")
    number = int(found.group(1)) if found else None
    return number if number is not None and number <= MAX_DB_INT else None


def build_page(
    ctx: PagingContext,
    incident: Incident,
    action: PageAction,
    *,
    to: Recipient | None,
    now: datetime,
    note: str = "",
) -> Page:
    """The page about `incident` for `to`; it offers acknowledging (`ack_url`) only while
    the incident is open (a resolved incident's overdue action item reminds without it)."""
    can_ack = action != "resolve" and incident.status != "resolved"
    return Page(
        action=action,
        incident_id=incident.id,
        title=incident.title,
        severity=incident.severity,
        status=incident.status,
        summary=incident.summary,
        incident_url=links.incident_url(ctx.settings, incident.id),
        ack_url=links.ack_url(ctx.settings, incident.id, now) if can_ack else None,
        runbook_url=incident.runbook_url,
        dedup_key=dedup_key(incident.id),
        recipient=to,
        note=note,
    )


@dataclass
class Claim:
    """A page claimed for one channel, to be sent after the claim is committed."""

    record: PageRecord
    notifier: Notifier
    page: Page


def claim(
    ctx: PagingContext,
    session: AsyncSession,
    incident: Incident,
    action: PageAction,
    *,
    layer: Layer | None,
    now: datetime,
    note: str = "",
    service_channels: bool = True,
    owner: str | None = None,
) -> list[Claim]:
    """Claims of one page on every channel (`service_channels` False skips PagerDuty-like
    channels, which run their own escalation and need only the first trigger)."""
    to = recipient(ctx.rotations, layer, now) if layer else None
    if owner is not None:
        to = person(ctx.rotations, owner, layer="owner")
    page = build_page(ctx, incident, action, to=to, now=now, note=note)
    claims = []
    for notifier in ctx.notifiers:
        if not notifier.per_recipient and not service_channels:
            continue
        if notifier.needs_recipient and to is None:
            continue
        record = PageRecord(
            incident_id=incident.id,
            at=now,
            action=action,
            layer=layer,
            member=to.name if to else None,
            channel=notifier.channel,
            outcome="claimed",
        )
        session.add(record)
        claims.append(Claim(record=record, notifier=notifier, page=page))
    return claims


NO_CHANNEL = (
    "no paging channel is configured (RAGOPS_PAGERDUTY_ROUTING_KEY, RAGOPS_PAGE_SLACK_WEBHOOK_URL,"
    " RAGOPS_SMTP_HOST or RAGOPS_PAGE_WEBHOOK_URL)"
)


def not_paged(ctx: PagingContext, layer: Layer, now: datetime) -> str:
    """Why a page to `layer` found no channel to go out on, for the incident's timeline."""
    to = recipient(ctx.rotations, layer, now)
    who = f"{to.name} ({layer})" if to else "on-call (no rotation)"
    why = (
        NO_CHANNEL
        if not ctx.notifiers
        else "the configured channels need to know who is on call (RAGOPS_ONCALL_ROTATION_FILE)"
    )
    return f"{who} not paged: {why}"


async def deliver(ctx: PagingContext, claims: list[Claim], *, now: datetime) -> None:
    """Send claimed pages and record each outcome (and a timeline event per page)."""
    if not claims:
        return
    by_page: dict[int, list[tuple[Claim, str | None]]] = {}
    for item in claims:
        error = None
        try:
            await item.notifier.send(item.page)
        except NotifyError as exc:
            error = str(exc)
            logger.warning("page of incident %s failed: %s", item.page.incident_id, error)
        except Exception as exc:  # a broken channel must not stop the others
            error = f"{item.notifier.channel}: {type(exc).__name__}"
            logger.exception("page of incident %s failed", item.page.incident_id)
        metrics.record_page(item.notifier.channel, "failed" if error else "sent")
        by_page.setdefault(id(item.page), []).append((item, error))
    async with ctx.db.session() as session:
        for results in by_page.values():
            page = results[0][0].page
            for item, error in results:
                await session.execute(
                    update(PageRecord)
                    .where(PageRecord.id == item.record.id)
                    .values(outcome="failed" if error else "sent", error=(error or None))
                )
            sent = [item.notifier.channel for item, error in results if error is None]
            failed = [error or "" for _, error in results if error is not None]
            who = (
                f"{page.recipient.name} ({page.recipient.layer})"
                if page.recipient
                else "on-call (no rotation)"
            )
            verb = {"trigger": "paged", "reminder": "reminded"}.get(page.action, page.action)
            if sent:
                session.add(
                    IncidentEvent(
                        incident_id=page.incident_id,
                        at=now,
                        actor="ragops",
                        kind={"trigger": "paged", "reminder": "reminder"}.get(
                            page.action, "notified"
                        ),
                        message=f"{verb} {who} via {', '.join(sent)}"
                        if page.action in ("trigger", "reminder")
                        else f"sent {page.action} via {', '.join(sent)}",
                        detail={"action": page.action, "channels": sent},
                    )
                )
            if failed:
                session.add(
                    IncidentEvent(
                        incident_id=page.incident_id,
                        at=now,
                        actor="ragops",
                        kind="page_failed",
                        message=f"{page.action} for {who} failed: {'; '.join(failed)}",
                        detail={"action": page.action, "errors": failed},
                    )
                )
        await session.commit()
