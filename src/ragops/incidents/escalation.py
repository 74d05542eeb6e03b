"""The escalation engine: pages, escalates, reminds and forwards acknowledgements, on a
schedule inside the service, exactly once across instances.

Each run takes a lock (`run_lock`: PostgreSQL, a session advisory lock; SQLite, a file lock in
the data directory) and, for every incident that needs it, decides in one transaction what is
due, claims those pages and advances the incident's state, commits, then sends. The state lives
in the database, so a restarted (or another) instance carries on without paging twice.

For a triggered incident of severity S (times from the severity policy):
- not yet paged: page the primary at once (P4: at the next business hours);
- paged, not acknowledged within S's response time (work or off hours, at the time of the
  page): page the next layer (primary -> engineering lead -> VP);
- unresolved after S's escalation delay: page S's `escalate_to` layers not yet paged (the next
  layer then waits S's response time from this page);
- no status update for S's communication cadence: remind the commander (or the primary).
Acknowledged and resolved incidents send "acknowledge" / "resolve" to every channel once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ragops.auth.models import aware
from ragops.config import Settings
from ragops.db import Database
from ragops.incidents import clock
from ragops.incidents.flows import Claim, PagingContext, claim, deliver, not_paged
from ragops.incidents.models import ActionItem, Incident, IncidentEvent, PageRecord
from ragops.incidents.queries import opened_at, round_start
from ragops.incidents.run_lock import RunLock
from ragops.incidents.service import OPEN_STATUSES, add_event
from ragops.observability import metrics
from ragops.oncall.policy import LAYERS, Layer, PolicyError, load_policy, zone
from ragops.oncall.rotations import load_rotations
from ragops.ops.version import build_info
from ragops.providers.notifier.factory import create_notifiers

logger = logging.getLogger(__name__)

RESOLVED_LOOKBACK = timedelta(days=1)
REMIND_EVERY = timedelta(days=1)


def _at(value: datetime | None) -> datetime | None:
    return aware(value)


class EscalationEngine:
    """Runs escalation checks; `run_once` is one pass, `start` runs them on a timer."""

    def __init__(self, ctx: PagingContext, *, clock: Callable[[], datetime] = clock.now) -> None:
        self.ctx = ctx
        self.clock = clock
        self.build = build_info(ctx.settings)
        self._lock = RunLock(ctx.settings, ctx.db)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        """One pass over the incidents; the number of pages sent (0 when another instance
        holds the lock)."""
        async with self._lock.exclusive() as mine:
            if not mine:
                return 0
            now = self.clock()
            self._reload_rotations()
            ids = await self._candidates(now)
            sent = 0
            for incident_id in ids:
                claims = await self._decide(incident_id, now)
                await deliver(self.ctx, claims, now=now)
                sent += len(claims)
            claims = await self._overdue_reminders(now)
            await deliver(self.ctx, claims, now=now)
            sent += len(claims)
            await self._count_open()
            return sent

    def _reload_rotations(self) -> None:
        """Read the rotation file again (overrides added since take effect); a broken file
        keeps the last good rotations and is logged."""
        path = self.ctx.settings.oncall_rotation_file
        if path is None:
            return
        try:
            self.ctx.rotations = load_rotations(path)
        except PolicyError as exc:
            logger.error("rotation file not reloaded, keeping the last good one: %s", exc)

    async def _candidates(self, now: datetime) -> list[int]:
        notified = exists().where(
            PageRecord.incident_id == Incident.id,
            PageRecord.action == "resolve",
            PageRecord.id > round_start(Incident.id),
        )
        async with self.ctx.db.session() as session:
            rows = await session.scalars(
                select(Incident.id)
                .where(
                    or_(
                        Incident.status.in_(OPEN_STATUSES),
                        (Incident.status == "resolved")
                        & (Incident.page_level >= 0)
                        & (Incident.resolved_at >= now - RESOLVED_LOOKBACK)
                        & ~notified,
                    )
                )
                .order_by(Incident.id)
            )
            return list(rows)

    async def _decide(self, incident_id: int, now: datetime) -> list[Claim]:
        ctx = self.ctx
        async with ctx.db.session() as session:
            incident = await session.get(Incident, incident_id, with_for_update=True)
            if incident is None:
                return []
            claims: list[Claim] = []
            severity = incident.severity
            rule = ctx.policy.rule(severity)  # type: ignore[arg-type]
            created = await opened_at(session, incident) or now
            # timers run from the first page (P4 waits for business hours)
            start = ctx.policy.page_time(severity, created)  # type: ignore[arg-type]

            def event(kind: str, message: str) -> None:
                session.add(
                    IncidentEvent(
                        incident_id=incident.id, at=now, actor="ragops", kind=kind, message=message
                    )
                )

            if incident.status == "triggered":
                if incident.page_level < 0:
                    if now >= start:
                        incident.page_level, incident.last_paged_at = 0, now
                        paged = claim(ctx, session, incident, "trigger", layer="primary", now=now)
                        if not paged:  # said on the timeline, not only in a log nobody reads
                            reason = not_paged(ctx, "primary", now)
                            logger.warning("incident %s: %s", incident.id, reason)
                            event("page_failed", reason)
                        claims += paged
                elif incident.page_level < len(LAYERS) - 1:
                    paged_at = _at(incident.last_paged_at) or created
                    wait = ctx.policy.response_time(severity, paged_at)  # type: ignore[arg-type]
                    if now - paged_at >= wait:
                        incident.page_level += 1
                        incident.last_paged_at = now
                        layer = LAYERS[incident.page_level]
                        minutes = wait.total_seconds() / 60
                        note = f"Not acknowledged within {minutes:g} min: escalated to {layer}."
                        event("escalated", note)
                        claims += claim(
                            ctx,
                            session,
                            incident,
                            "trigger",
                            layer=layer,
                            now=now,
                            note=note,
                            service_channels=False,
                        )
            if (
                incident.status != "resolved"
                and incident.escalated_at is None
                and incident.page_level >= 0
                and rule.escalation_minutes is not None
                and now - start >= timedelta(minutes=rule.escalation_minutes)
            ):
                incident.escalated_at = now
                layers: list[Layer] = [
                    layer for layer in rule.escalate_to if LAYERS.index(layer) > incident.page_level
                ]
                note = f"Unresolved after {rule.escalation_minutes:g} min: " + (
                    f"engaging {', '.join(layers)}." if layers else "every layer is engaged."
                )
                event("escalated", note)
                if layers:  # the layers engaged now get the response time to acknowledge
                    incident.page_level = max(LAYERS.index(layer) for layer in layers)
                    incident.last_paged_at = now
                for layer in layers:
                    claims += claim(
                        ctx,
                        session,
                        incident,
                        "trigger",
                        layer=layer,
                        now=now,
                        note=note,
                        service_channels=False,
                    )
            if incident.status in OPEN_STATUSES and incident.page_level >= 0:
                cadence = timedelta(minutes=rule.communication_minutes)
                last = max(
                    t
                    for t in (start, _at(incident.last_update_at), _at(incident.last_reminder_at))
                    if t is not None
                )
                if now - last >= cadence:
                    incident.last_reminder_at = now
                    note = (
                        f"A status update is due (every {rule.communication_minutes:g} min for "
                        f"{severity}): add one with `ragops incident note {incident.id} "
                        "--status-update`."
                    )
                    claims += claim(
                        ctx,
                        session,
                        incident,
                        "reminder",
                        layer=None if incident.commander else "primary",
                        now=now,
                        note=note
                        + (f" Commander: {incident.commander}." if incident.commander else ""),
                        service_channels=False,
                    )
            if incident.status in OPEN_STATUSES:
                await self._deploy_seen(session, incident, now)
            claims += await self._status_notices(session, incident, now)
            await session.commit()
            return claims

    async def _deploy_seen(self, session: AsyncSession, incident: Incident, now: datetime) -> None:
        """A `deploy_seen` event when the build running the engine differs from the builds
        already seen during the incident (the first one is noted silently on "opened")."""
        build = self.build
        key = f"build:{build.version}:{build.commit or '-'}:{build.image_tag or '-'}"[:256]
        seen = set(
            await session.scalars(
                select(IncidentEvent.dedup_key).where(
                    IncidentEvent.incident_id == incident.id,
                    IncidentEvent.dedup_key.like("build:%"),
                )
            )
        )
        if key in seen:
            return
        if not seen:
            await session.execute(
                update(IncidentEvent)
                .where(
                    IncidentEvent.incident_id == incident.id,
                    IncidentEvent.kind == "opened",
                    IncidentEvent.dedup_key.is_(None),
                )
                .values(dedup_key=key)
            )
            return
        commit = (build.commit or "unknown")[:12]
        image = f", image {build.image_tag}" if build.image_tag else ""
        await add_event(
            session,
            incident,
            kind="deploy_seen",
            actor="ragops",
            at=now,
            dedup_key=key,
            message=f"a new build is running: version {build.version}, commit {commit}{image}",
        )

    async def _status_notices(
        self, session: AsyncSession, incident: Incident, now: datetime
    ) -> list[Claim]:
        if incident.page_level < 0 or incident.status == "triggered":
            return []
        # a resolved incident needs only "resolve" (it closes an unacknowledged page too)
        wanted = ["resolve"] if incident.status == "resolved" else ["acknowledge"]
        done = set(
            await session.scalars(
                select(PageRecord.action).where(
                    PageRecord.incident_id == incident.id,
                    PageRecord.action.in_(wanted),
                    PageRecord.id > round_start(incident.id),
                )
            )
        )
        claims: list[Claim] = []
        for action in wanted:
            if action not in done:
                claims += claim(self.ctx, session, incident, action, layer=None, now=now)  # type: ignore[arg-type]
        return claims

    async def _overdue_reminders(self, now: datetime) -> list[Claim]:
        """Remind the owners of overdue action items, at most once a day per item."""
        today = now.astimezone(zone(self.ctx.policy.business_hours.timezone)).date()
        claims: list[Claim] = []
        async with self.ctx.db.session() as session:
            items = await session.scalars(
                select(ActionItem)
                .where(
                    ActionItem.done.is_(False),
                    ActionItem.due < today,
                    or_(
                        ActionItem.reminded_at.is_(None),
                        ActionItem.reminded_at <= now - REMIND_EVERY,
                    ),
                )
                .order_by(ActionItem.id)
                .with_for_update()
            )
            for item in items:
                incident = await session.get(Incident, item.incident_id)
                if incident is None:
                    continue
                item.reminded_at = now
                note = (
                    f"Overdue action item #{item.id} for {item.owner}, due {item.due}: "
                    f"{item.description}"
                )
                claims += claim(
                    self.ctx,
                    session,
                    incident,
                    "reminder",
                    layer=None,
                    now=now,
                    note=note,
                    service_channels=False,
                    owner=item.owner,
                )
            await session.commit()
        return claims

    async def _count_open(self) -> None:
        from ragops.incidents.service import open_counts

        metrics.set_open_incidents(await open_counts(db=self.ctx.db))

    # ---- the timer ----

    def wake(self) -> None:
        """Run a pass soon (a new incident was opened)."""
        self._wake.set()

    def start(self, interval: float) -> None:
        """Run passes every `interval` seconds (and when woken) until `stop`."""
        self._task = asyncio.create_task(self._loop(interval), name="escalation-engine")

    async def _loop(self, interval: float) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                logger.warning("escalation pass failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
            self._wake.clear()

    async def stop(self) -> None:
        """Stop the timer and close the channels."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for notifier in self.ctx.notifiers:
            await notifier.aclose()
        await self._lock.aclose()


def paging_context(settings: Settings, db: Database) -> PagingContext:
    """The paging context of `settings`: policy, rotations (when configured) and channels.

    PolicyError when a configured file is missing or invalid."""
    rotations = None
    if settings.oncall_rotation_file is not None:
        rotations = load_rotations(settings.oncall_rotation_file)
    return PagingContext(
        settings=settings,
        db=db,
        notifiers=create_notifiers(settings),
        policy=load_policy(settings.severity_policy_file),
        rotations=rotations,
    )


@contextlib.asynccontextmanager
async def escalation_lifespan(app: Any) -> AsyncIterator[None]:
    """Start the engine with the application (timer off when the interval is 0)."""
    runtime = getattr(app.state, "runtime", None)
    if runtime is None:
        yield
        return
    settings: Settings = runtime.settings
    engine = EscalationEngine(paging_context(settings, runtime.db))
    app.state.escalation = engine
    if settings.escalation_interval_seconds > 0:
        engine.start(settings.escalation_interval_seconds)
    try:
        yield
    finally:
        await engine.stop()
