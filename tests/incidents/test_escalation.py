"""The escalation engine on SQLite and PostgreSQL with a controllable clock and real local
receivers: primary paged at once, the next layer after the response time, acknowledgement
stops the escalation and is forwarded, restarts and second instances never page twice,
reminders follow the communication cadence, P4 waits for business hours."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from ragops.config import Settings
from ragops.db import Database, migrate
from ragops.incidents import service
from ragops.incidents.alerts import AlertmanagerPayload, ingest
from ragops.incidents.escalation import EscalationEngine
from ragops.incidents.flows import PagingContext
from ragops.oncall.policy import load_policy
from ragops.oncall.rotations import load_rotations
from ragops.providers.notifier.email import EmailNotifier
from ragops.providers.notifier.pagerduty import PagerDutyNotifier
from ragops.providers.notifier.slack import SlackNotifier
from tests.conftest import BACKENDS, REPO_ROOT, backend_settings
from tests.incidents.conftest import alert, payload
from tests.incidents.receivers import Mailbox, Receiver, http_receiver, smtp_server

T0 = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)  # Thursday 12:00 in Berlin: work hours


@dataclass
class World:
    db: Database
    settings: Settings
    receiver: Receiver
    mailbox: Mailbox
    smtp_port: int
    now: datetime = T0

    def engine(self, policy: Path | None = None, *, channels: bool = True) -> EscalationEngine:
        """A fresh engine (as after a restart, or on another instance); `channels` False:
        no paging channel configured."""
        ctx = PagingContext(
            settings=self.settings,
            db=self.db,
            notifiers=[
                PagerDutyNotifier(
                    routing_key="KEY", url=self.receiver.url + "/v2/enqueue", timeout=5
                ),
                SlackNotifier(url=self.receiver.url + "/chat", timeout=5),
                EmailNotifier(
                    host="127.0.0.1",
                    port=self.smtp_port,
                    sender="ragops@example.com",
                    starttls=False,
                    username=None,
                    password=None,
                    timeout=5,
                ),
            ]
            if channels
            else [],
            policy=load_policy(policy or REPO_ROOT / "deploy" / "oncall" / "severities.yaml"),
            rotations=load_rotations(REPO_ROOT / "deploy" / "oncall" / "rotations.yaml"),
        )
        return EscalationEngine(ctx, clock=lambda: self.now)

    def chat(self) -> list[str]:
        return [d.body["text"] for d in self.receiver.deliveries("/chat")]

    def pagerduty(self) -> list[str]:
        return [d.body["event_action"] for d in self.receiver.deliveries("/v2/enqueue")]

    def mail_to(self) -> list[str]:
        return [to for _, tos, _ in self.mailbox.received() for to in tos]


@pytest.fixture(params=BACKENDS)
def receivers() -> Iterator[tuple[Receiver, Mailbox, int]]:
    with http_receiver() as receiver, smtp_server() as (mailbox, port):
        yield receiver, mailbox, port


@pytest.fixture
async def world(
    request: pytest.FixtureRequest, tmp_path: Path, receivers: tuple[Receiver, Mailbox, int]
) -> AsyncIterator[World]:
    backend = request.node.callspec.params["receivers"]
    with backend_settings(
        backend, tmp_path / "var", public_base_url="http://ragops.test"
    ) as settings:
        await migrate.upgrade(settings)
        db = Database(settings)
        try:
            yield World(db, settings, *receivers)
        finally:
            await db.dispose()


async def fire(world: World, severity: str = "P1") -> int:
    body = payload(
        f"group-{severity}",
        alert("RagopsDatabaseDown", severity=severity, starts=world.now.isoformat()),
    )
    result = await ingest(
        db=world.db, payload=AlertmanagerPayload.model_validate(body), now=world.now
    )
    assert result.opened and result.incident_id is not None
    return result.incident_id


def pages(channel: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "ragops_pages_total", {"channel": channel, "outcome": outcome}
    )
    return value or 0.0


async def test_page_escalate_acknowledge_resolve(world: World) -> None:
    slack_before, email_before = pages("slack", "sent"), pages("email", "sent")
    incident_id = await fire(world)
    world.now = T0 + timedelta(seconds=20)
    assert await world.engine().run_once() == 3  # PagerDuty, chat, e-mail: within a minute
    assert world.pagerduty() == ["trigger"]
    assert world.chat()[0].startswith(f"*[P1] Incident {incident_id} triggered: RagopsDatabaseDown")
    assert "On call (primary): @engineer-d" in world.chat()[0]
    assert world.mail_to() == ["engineer-d@example.com"]

    world.now = T0 + timedelta(minutes=4)
    assert await world.engine().run_once() == 0  # a restarted engine: nothing is due

    world.now = T0 + timedelta(minutes=5, seconds=20)  # the P1 response time in work hours
    assert await world.engine().run_once() == 2  # chat and e-mail (PagerDuty escalates itself)
    assert "On call (engineering_lead): @engineering-lead" in world.chat()[1]
    assert "Not acknowledged within 5 min: escalated to engineering_lead." in world.chat()[1]
    assert world.mail_to()[-1] == "engineering-lead@example.com"

    world.now = T0 + timedelta(minutes=7)
    await service.acknowledge(
        db=world.db, incident_id=incident_id, actor="engineer-d", now=world.now
    )
    engine = world.engine()
    assert await engine.run_once() == 2  # acknowledge to PagerDuty and chat, once
    world.now = T0 + timedelta(minutes=12)
    assert await engine.run_once() == 0  # acknowledged: no VP page
    assert world.pagerduty() == ["trigger", "acknowledge"]

    world.now = T0 + timedelta(minutes=14)
    await service.set_status(
        db=world.db, incident_id=incident_id, status="resolved", actor="engineer-d", now=world.now
    )
    assert await engine.run_once() == 2
    assert await engine.run_once() == 0
    assert world.pagerduty() == ["trigger", "acknowledge", "resolve"]

    assert pages("slack", "sent") - slack_before == 4  # primary, lead, acknowledge, resolve
    assert pages("email", "sent") - email_before == 2
    detail = await service.get_or_raise(db=world.db, incident_id=incident_id)
    lines = [(e.at - T0, e.kind, e.message) for e in detail.timeline]
    assert lines == [
        (
            timedelta(0),
            "opened",
            "P1 incident opened: RagopsDatabaseDown: RagopsDatabaseDown summary",
        ),
        (timedelta(0), "alert_fired", "RagopsDatabaseDown fired (P1): RagopsDatabaseDown summary"),
        (timedelta(seconds=20), "paged", "paged engineer-d (primary) via pagerduty, slack, email"),
        (
            timedelta(minutes=5, seconds=20),
            "escalated",
            "Not acknowledged within 5 min: escalated to engineering_lead.",
        ),
        (
            timedelta(minutes=5, seconds=20),
            "paged",
            "paged engineering-lead (engineering_lead) via slack, email",
        ),
        (timedelta(minutes=7), "acknowledged", "acknowledged by engineer-d"),
        (timedelta(minutes=7), "notified", "sent acknowledge via pagerduty, slack"),
        (timedelta(minutes=14), "status_changed", "acknowledged -> resolved"),
        (timedelta(minutes=14), "notified", "sent resolve via pagerduty, slack"),
    ]


async def test_unresolved_engages_all_hands_and_reminds(world: World) -> None:
    incident_id = await fire(world)
    await world.engine().run_once()
    world.now = T0 + timedelta(minutes=1)
    await service.acknowledge(
        db=world.db, incident_id=incident_id, actor="engineer-d", now=world.now
    )
    await world.engine().run_once()
    world.now = T0 + timedelta(minutes=15)  # P1: unresolved after 15 min, and an update is due
    assert await world.engine().run_once() == 5  # lead and VP by chat and mail, a reminder
    chat = world.chat()
    assert any("Unresolved after 15 min: engaging engineering_lead, vp." in t for t in chat)
    assert any(
        "A status update is due (every 15 min for P1)" in t and "Commander: engineer-d" in t
        for t in chat
    )
    assert world.mail_to()[-2:] == ["engineering-lead@example.com", "vp-engineering@example.com"]
    world.now = T0 + timedelta(minutes=20)
    await service.add_note(
        db=world.db,
        incident_id=incident_id,
        message="DB failover running",
        status_update=True,
        actor="engineer-d",
        now=world.now,
    )
    world.now = T0 + timedelta(minutes=34)
    assert await world.engine().run_once() == 0  # updated at 20: next update due at 35
    world.now = T0 + timedelta(minutes=35)
    assert await world.engine().run_once() == 1  # one reminder, to chat


async def test_a_response_time_under_a_minute_is_named_as_written(
    world: World, tmp_path: Path
) -> None:
    """Minutes may be fractions (a drill's short timers): the escalation says 0.5 min, not 0."""
    shipped = (REPO_ROOT / "deploy" / "oncall" / "severities.yaml").read_text()
    policy = tmp_path / "severities.yaml"
    policy.write_text(
        shipped.replace(
            "{work_minutes: 5, off_minutes: 15}", "{work_minutes: 0.5, off_minutes: 0.5}"
        )
    )
    await fire(world)
    await world.engine(policy).run_once()
    world.now = T0 + timedelta(seconds=40)
    assert await world.engine(policy).run_once() == 2  # chat and e-mail to the lead
    assert "Not acknowledged within 0.5 min: escalated to engineering_lead." in world.chat()[1]


async def test_two_instances_page_once(world: World) -> None:
    await fire(world)
    world.now = T0 + timedelta(seconds=5)
    first, second = world.engine(), world.engine()
    results = await asyncio.gather(first.run_once(), second.run_once())
    assert sorted(results) == [0, 3]
    assert world.pagerduty() == ["trigger"] and len(world.chat()) == 1


async def test_p4_waits_for_business_hours(world: World) -> None:
    world.now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)  # Saturday
    await fire(world, "P4")
    assert await world.engine().run_once() == 0
    world.now = datetime(2026, 12, 7, 7, 59, tzinfo=UTC)  # Monday 08:59 in Berlin
    assert await world.engine().run_once() == 0
    world.now = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    assert await world.engine().run_once() == 3
    assert "[P4]" in world.chat()[0] and "@engineer-a" in world.chat()[0]


async def test_a_failed_channel_is_recorded_and_counted(world: World) -> None:
    before = pages("slack", "failed")
    world.receiver.stop()  # the chat and PagerDuty endpoints are gone
    incident_id = await fire(world)
    assert await world.engine().run_once() == 3
    assert pages("slack", "failed") - before == 1
    detail = await service.get_or_raise(db=world.db, incident_id=incident_id)
    kinds = {e.kind: e.message for e in detail.timeline}
    assert kinds["paged"] == "paged engineer-d (primary) via email"
    assert kinds["page_failed"].startswith("trigger for engineer-d (primary) failed: pagerduty:")


async def test_an_incident_nobody_can_be_paged_for_says_so(world: World) -> None:
    incident_id = await fire(world)
    assert await world.engine(channels=False).run_once() == 0
    world.now = T0 + timedelta(minutes=1)
    assert await world.engine(channels=False).run_once() == 0  # said once, not every pass
    detail = await service.get_or_raise(db=world.db, incident_id=incident_id)
    failed = [e.message for e in detail.timeline if e.kind == "page_failed"]
    assert failed == [
        "engineer-d (primary) not paged: no paging channel is configured (RAGOPS_PAGERDUTY_"
        "ROUTING_KEY, RAGOPS_PAGE_SLACK_WEBHOOK_URL, RAGOPS_SMTP_HOST or RAGOPS_PAGE_WEBHOOK_URL)"
    ]


async def test_a_new_build_during_an_incident_is_on_the_timeline(world: World) -> None:
    incident_id = await fire(world)
    await world.engine().run_once()  # the build at the first pass is the baseline: no event
    world.now = T0 + timedelta(minutes=1)
    await world.engine().run_once()
    world.settings = world.settings.model_copy(
        update={"git_commit": "feedface12345678", "image_tag": "main-feedface"}
    )
    world.now = T0 + timedelta(minutes=2)
    await world.engine().run_once()
    await world.engine().run_once()
    detail = await service.get_or_raise(db=world.db, incident_id=incident_id)
    deploys = [(e.at - T0, e.message) for e in detail.timeline if e.kind == "deploy_seen"]
    assert len(deploys) == 1
    assert deploys[0][0] == timedelta(minutes=2)
    assert deploys[0][1].endswith("commit feedface1234, image main-feedface")


async def test_public_status_lists_open_customer_facing_incidents(world: World) -> None:
    from ragops.incidents.status import public_incidents

    incident_id = await fire(world)
    assert await public_incidents(db=world.db) == []
    await service.update(
        db=world.db,
        incident_id=incident_id,
        actor="engineer-d",
        changes={"customer_facing": True},
        now=world.now,
    )
    await service.add_note(
        db=world.db,
        incident_id=incident_id,
        actor="engineer-d",
        message="Answers fail; failing over.",
        status_update=True,
        now=world.now,
    )
    (shown,) = await public_incidents(db=world.db)
    assert (shown.id, shown.severity, shown.last_update) == (
        incident_id,
        "P1",
        "Answers fail; failing over.",
    )
    await service.set_status(
        db=world.db, incident_id=incident_id, status="resolved", actor="engineer-d", now=world.now
    )
    assert await public_incidents(db=world.db) == []


async def test_owners_of_overdue_action_items_are_reminded_daily(world: World) -> None:
    from datetime import date

    from ragops.incidents import actions

    incident_id = await fire(world, "P3")
    await world.engine().run_once()
    await service.set_status(
        db=world.db, incident_id=incident_id, status="resolved", actor="engineer-d", now=world.now
    )
    await actions.add_action_item(
        db=world.db,
        incident_id=incident_id,
        owner="engineer-b",
        description="Add a replica",
        due=date(2026, 12, 3),
        actor="engineer-d",
        now=world.now,
    )
    mails = len(world.mail_to())
    assert await world.engine().run_once() == 2  # resolve notices only: not yet overdue
    world.now = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    assert await world.engine().run_once() == 2  # chat and the owner's e-mail
    assert world.mail_to()[mails:] == ["engineer-b@example.com"]
    assert "Overdue action item #" in world.chat()[-1] and "Add a replica" in world.chat()[-1]
    # The incident is resolved: its reminder offers no acknowledging, in chat or by mail.
    reminder_mail = world.mailbox.received()[-1][2]
    assert "Overdue action item #" in str(reminder_mail.get_content())
    assert "Acknowledge" not in world.chat()[-1] and "/ack?" not in world.chat()[-1]
    assert "Acknowledge" not in str(reminder_mail.get_content())
    world.now = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
    assert await world.engine().run_once() == 0
    world.now = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    assert await world.engine().run_once() == 2


async def test_a_reopened_incident_is_paged_acknowledged_and_resolved_again(world: World) -> None:
    """Reopening restarts the escalation: the primary is paged again (PagerDuty too, same
    dedup key), its timers run from the reopening, and the channels hear the new
    acknowledgement and resolution (they were sent once per incident, so PagerDuty's
    re-triggered incident was never resolved)."""
    incident_id = await fire(world)
    engine = world.engine()
    world.now = T0 + timedelta(seconds=20)
    await engine.run_once()
    world.now = T0 + timedelta(minutes=2)
    await service.acknowledge(db=world.db, incident_id=incident_id, actor="a", now=world.now)
    await engine.run_once()
    world.now = T0 + timedelta(minutes=3)
    await service.set_status(
        db=world.db, incident_id=incident_id, status="resolved", actor="a", now=world.now
    )
    await engine.run_once()
    assert world.pagerduty() == ["trigger", "acknowledge", "resolve"]

    world.now = T0 + timedelta(hours=2)
    await service.set_status(
        db=world.db, incident_id=incident_id, status="triggered", actor="a", now=world.now
    )
    before = len(world.chat())
    await engine.run_once()
    assert world.pagerduty()[3:] == ["trigger"]
    new = world.chat()[before:]  # the primary only: not all hands at once
    assert len(new) == 1 and "On call (primary)" in new[0], new
    before = len(world.chat())
    world.now = T0 + timedelta(hours=2, minutes=3)  # within the response time of the reopening
    assert await engine.run_once() == 0
    assert len(world.chat()) == before
    await service.acknowledge(db=world.db, incident_id=incident_id, actor="a", now=world.now)
    await engine.run_once()
    world.now = T0 + timedelta(hours=2, minutes=4)
    await service.set_status(
        db=world.db, incident_id=incident_id, status="resolved", actor="a", now=world.now
    )
    await engine.run_once()
    assert await engine.run_once() == 0
    assert world.pagerduty()[3:] == ["trigger", "acknowledge", "resolve"]


async def test_a_reopening_is_known_by_its_status_change_not_its_wording(world: World) -> None:
    """The round of a reopened incident starts at the status change resolved -> triggered,
    whatever its timeline message says (a note appended to it, another release's wording):
    the reopened P1 pages its primary only, not every level at once."""
    from sqlalchemy import update

    from ragops.incidents.models import IncidentEvent

    incident_id = await fire(world)
    engine = world.engine()
    await engine.run_once()
    await service.set_status(
        db=world.db, incident_id=incident_id, status="resolved", actor="a", now=world.now
    )
    await engine.run_once()
    world.now = T0 + timedelta(hours=2)
    await service.set_status(
        db=world.db, incident_id=incident_id, status="triggered", actor="a", now=world.now
    )
    async with world.db.session() as session:
        await session.execute(
            update(IncidentEvent)
            .where(IncidentEvent.incident_id == incident_id, IncidentEvent.at == world.now)
            .values(message="Reopened: the replica fell behind again")
        )
        await session.commit()
    before = len(world.chat())
    await engine.run_once()
    new = world.chat()[before:]
    assert len(new) == 1 and "On call (primary)" in new[0], new
