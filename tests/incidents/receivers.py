"""Real local receivers for the paging tests: the HTTP receiver of the alerting tests (stands
in for PagerDuty, the chat webhook and the signed webhook) and an aiosmtpd SMTP server."""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from tests.conftest import free_port
from tests.ops.processes import Receiver

__all__ = ["Mailbox", "Receiver", "http_receiver", "smtp_server"]


class Mailbox:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.messages: list[tuple[str, list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"

    def received(self) -> list[tuple[str, list[str], Message]]:
        with self._lock:
            return list(self.messages)


@contextmanager
def http_receiver() -> Iterator[Receiver]:
    receiver = Receiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


@contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()
