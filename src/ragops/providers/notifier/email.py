"""E-mail pages over SMTP (stdlib smtplib in a worker thread; STARTTLS and login optional).

Only pages with a recipient who has an e-mail address are sent; others are skipped.
"""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage

from ragops.providers.notifier.base import NotifyError, Page


def compose(page: Page, sender: str) -> EmailMessage | None:
    """The e-mail of `page`, or None when it has no addressee."""
    if page.recipient is None or not page.recipient.email:
        return None
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = page.recipient.email
    mail["Subject"] = f"[ragops] {page.headline}"
    lines = [
        page.headline,
        "",
        f"Severity: {page.severity}",
        f"Status: {page.status}",
        f"On call ({page.recipient.layer}): {page.recipient.name}",
    ]
    if page.note:
        lines += ["", page.note]
    if page.summary:
        lines += ["", page.summary]
    lines += ["", f"Incident: {page.incident_url}"]
    if page.runbook_url:
        lines.append(f"Runbook: {page.runbook_url}")
    if page.ack_url and page.action in ("trigger", "reminder"):
        lines.append(f"Acknowledge: {page.ack_url}")
    mail.set_content("\n".join(lines) + "\n")
    return mail


class EmailNotifier:
    """Sends pages as e-mail to the paged person's address."""

    channel = "email"
    per_recipient = True
    needs_recipient = True

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        starttls: bool,
        username: str | None,
        password: str | None,
        timeout: float,
    ) -> None:
        self._host, self._port, self._sender = host, port, sender
        self._starttls, self._username, self._password = starttls, username, password
        self._timeout = timeout

    def _deliver(self, mail: EmailMessage) -> None:
        with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
            if self._starttls:
                smtp.starttls()
            if self._username and self._password:
                smtp.login(self._username, self._password)
            smtp.send_message(mail)

    async def send(self, page: Page) -> None:
        """Send the page's e-mail (nothing when it has no addressee)."""
        mail = compose(page, self._sender)
        if mail is None:
            return
        try:
            await asyncio.to_thread(self._deliver, mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise NotifyError(f"email: cannot deliver: {type(exc).__name__}") from None

    async def aclose(self) -> None:
        """Nothing to close (one connection per message)."""
