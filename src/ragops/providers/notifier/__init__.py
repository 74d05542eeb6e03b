"""Paging channels behind one interface: PagerDuty, Slack-compatible webhook, e-mail, signed
webhook."""

from ragops.providers.notifier.base import Notifier, NotifyError, Page, Recipient

__all__ = ["Notifier", "NotifyError", "Page", "Recipient"]
