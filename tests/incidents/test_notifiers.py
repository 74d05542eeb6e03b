"""Each paging channel against a real local receiver, asserting the exact payload."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from ragops.providers.notifier import NotifyError, Page, Recipient
from ragops.providers.notifier.email import EmailNotifier
from ragops.providers.notifier.pagerduty import PagerDutyNotifier
from ragops.providers.notifier.slack import SlackNotifier
from ragops.providers.notifier.webhook import SignedWebhookNotifier
from tests.conftest import free_port
from tests.incidents.receivers import http_receiver, smtp_server

PRIMARY = Recipient(name="engineer-a", layer="primary", email="a@example.com", slack="@engineer-a")
PAGE = Page(
    action="trigger",
    incident_id=7,
    title="RagopsDatabaseDown: the database is unreachable",
    severity="P1",
    status="triggered",
    summary="Every request fails.",
    incident_url="http://ragops.test/ops/incidents/7",
    ack_url="http://ragops.test/ops/incidents/7/ack?expires=1&sig=ab",
    runbook_url="https://runbooks.test/database-down",
    dedup_key="ragops-incident-7",
    recipient=PRIMARY,
)


async def test_pagerduty_trigger_acknowledge_resolve() -> None:
    with http_receiver() as receiver:
        notifier = PagerDutyNotifier(
            routing_key="R0UTINGKEY", url=receiver.url + "/v2/enqueue", timeout=5
        )
        await notifier.send(PAGE)
        await notifier.send(_with(PAGE, action="acknowledge"))
        await notifier.send(_with(PAGE, action="resolve", ack_url=None))
        await notifier.send(_with(PAGE, action="reminder"))  # not PagerDuty's business
        await notifier.aclose()
        bodies = [d.body for d in receiver.deliveries("/v2/enqueue")]
    assert bodies[0] == {
        "routing_key": "R0UTINGKEY",
        "event_action": "trigger",
        "dedup_key": "ragops-incident-7",
        "payload": {
            "summary": "[P1] Incident 7 triggered: RagopsDatabaseDown: the database is unreachable",
            "source": "ragops",
            "severity": "critical",
            "component": "ragops",
            "class": "incident",
            "custom_details": {
                "incident_id": 7,
                "severity": "P1",
                "status": "triggered",
                "runbook_url": "https://runbooks.test/database-down",
                "incident_url": "http://ragops.test/ops/incidents/7",
                "ack_url": "http://ragops.test/ops/incidents/7/ack?expires=1&sig=ab",
                "description": "Every request fails.",
            },
        },
        "client": "ragops",
        "client_url": "http://ragops.test/ops/incidents/7",
        "links": [
            {"href": "http://ragops.test/ops/incidents/7", "text": "Incident 7"},
            {
                "href": "http://ragops.test/ops/incidents/7/ack?expires=1&sig=ab",
                "text": "Acknowledge",
            },
            {"href": "https://runbooks.test/database-down", "text": "Runbook"},
        ],
    }
    assert bodies[1:] == [
        {
            "routing_key": "R0UTINGKEY",
            "event_action": "acknowledge",
            "dedup_key": "ragops-incident-7",
        },
        {"routing_key": "R0UTINGKEY", "event_action": "resolve", "dedup_key": "ragops-incident-7"},
    ]


def _with(page: Page, **changes: object) -> Page:
    values = {name: getattr(page, name) for name in Page.__dataclass_fields__}
    values.update(changes)
    return Page(**values)  # type: ignore[arg-type]


async def test_slack_message() -> None:
    with http_receiver() as receiver:
        notifier = SlackNotifier(url=receiver.url + "/hooks/T0", timeout=5)
        await notifier.send(PAGE)
        await notifier.aclose()
        (delivery,) = receiver.deliveries("/hooks/T0")
    assert delivery.headers["Content-Type"] == "application/json"
    assert delivery.body == {
        "text": "*[P1] Incident 7 triggered: RagopsDatabaseDown: the database is unreachable*\n"
        "On call (primary): @engineer-a\n"
        "Every request fails.\n"
        "<http://ragops.test/ops/incidents/7|Incident 7> · "
        "<https://runbooks.test/database-down|Runbook> · "
        "<http://ragops.test/ops/incidents/7/ack?expires=1&sig=ab|Acknowledge>"
    }


async def test_signed_webhook_carries_a_verifiable_signature() -> None:
    with http_receiver() as receiver:
        notifier = SignedWebhookNotifier(url=receiver.url + "/pages", secret=b"s3cret", timeout=5)
        await notifier.send(PAGE)
        await notifier.aclose()
        (delivery,) = receiver.deliveries("/pages")
    headers = {k.lower(): v for k, v in delivery.headers.items()}
    raw = json.dumps(delivery.body, sort_keys=True).encode()
    expected = hmac.new(
        b"s3cret", headers["x-ragops-timestamp"].encode() + b"." + raw, hashlib.sha256
    )
    assert headers["x-ragops-signature"] == "sha256=" + expected.hexdigest()
    assert delivery.body == {
        "type": "incident.trigger",
        "dedup_key": "ragops-incident-7",
        "incident": {
            "id": 7,
            "title": "RagopsDatabaseDown: the database is unreachable",
            "severity": "P1",
            "status": "triggered",
            "summary": "Every request fails.",
            "url": "http://ragops.test/ops/incidents/7",
            "runbook_url": "https://runbooks.test/database-down",
        },
        "ack_url": "http://ragops.test/ops/incidents/7/ack?expires=1&sig=ab",
        "recipient": {"name": "engineer-a", "layer": "primary", "email": "a@example.com"},
        "note": "",
    }


async def test_email_page() -> None:
    with smtp_server() as (mailbox, port):
        notifier = EmailNotifier(
            host="127.0.0.1",
            port=port,
            sender="ragops@example.com",
            starttls=False,
            username=None,
            password=None,
            timeout=5,
        )
        await notifier.send(PAGE)
        await notifier.send(_with(PAGE, recipient=None))  # nobody to mail: skipped
        ((sender, recipients, message),) = mailbox.received()
    assert sender == "ragops@example.com" and recipients == ["a@example.com"]
    assert (
        message["Subject"]
        == "[ragops] [P1] Incident 7 triggered: RagopsDatabaseDown: the database is unreachable"
    )
    assert message.get_payload(decode=True).decode().replace("\r\n", "\n") == (
        "[P1] Incident 7 triggered: RagopsDatabaseDown: the database is unreachable\n\n"
        "Severity: P1\nStatus: triggered\nOn call (primary): engineer-a\n\n"
        "Every request fails.\n\n"
        "Incident: http://ragops.test/ops/incidents/7\n"
        "Runbook: https://runbooks.test/database-down\n"
        "Acknowledge: http://ragops.test/ops/incidents/7/ack?expires=1&sig=ab\n"
    )


async def test_unreachable_channels_raise_notify_error() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    for notifier in (
        PagerDutyNotifier(routing_key="k", url=dead + "/v2/enqueue", timeout=2),
        SlackNotifier(url=dead + "/hook", timeout=2),
        SignedWebhookNotifier(url=dead + "/pages", secret=b"k", timeout=2),
        EmailNotifier(
            host="127.0.0.1",
            port=free_port(),
            sender="r@example.com",
            starttls=False,
            username=None,
            password=None,
            timeout=2,
        ),
    ):
        with pytest.raises(NotifyError, match=notifier.channel):
            await notifier.send(PAGE)
        await notifier.aclose()
