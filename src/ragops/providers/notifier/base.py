"""The `Notifier` interface: a page (or its acknowledgement, resolution or a reminder) out
through one channel.

A `Page` carries everything a responder needs at once: severity, summary, runbook link, the
incident's URL and a signed one-click acknowledge link, plus who it is for. Notifiers raise
`NotifyError` when the channel refuses or cannot be reached; they never log secrets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

PageAction = Literal["trigger", "acknowledge", "resolve", "reminder"]


class NotifyError(Exception):
    """The channel did not take the page."""


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who a page is for and how to reach them."""

    name: str
    layer: str
    email: str | None = None
    slack: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """One message to on-call about one incident."""

    action: PageAction
    incident_id: int
    title: str
    severity: str
    status: str
    summary: str
    incident_url: str
    ack_url: str | None
    runbook_url: str | None
    dedup_key: str
    recipient: Recipient | None = None
    note: str = ""

    @property
    def headline(self) -> str:
        """A one-line subject: "[P1] Incident 7 triggered: <title>"."""
        verb = {
            "trigger": "triggered",
            "acknowledge": "acknowledged",
            "resolve": "resolved",
            "reminder": "reminder",
        }[self.action]
        return f"[{self.severity}] Incident {self.incident_id} {verb}: {self.title}"


@runtime_checkable
class Notifier(Protocol):
    """One paging channel."""

    @property
    def channel(self) -> str:
        """Short channel name for metrics and the timeline ("pagerduty", "slack", ...)."""
        ...

    @property
    def per_recipient(self) -> bool:
        """True when each page names a person (e-mail); False when the channel pages a
        service that runs its own escalation (PagerDuty)."""
        ...

    @property
    def needs_recipient(self) -> bool:
        """True when a page without a recipient cannot be sent (e-mail)."""
        ...

    async def send(self, page: Page) -> None:
        """Deliver `page`; NotifyError when the channel does not take it."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
