"""Pick the paging channels from settings: every channel that is configured is used."""

from __future__ import annotations

from ragops.config import Settings
from ragops.providers.notifier.base import Notifier


def create_notifiers(settings: Settings) -> list[Notifier]:
    """The configured notifiers (possibly none)."""
    found: list[Notifier] = []
    timeout = settings.page_timeout_seconds
    if settings.pagerduty_routing_key is not None:
        from ragops.providers.notifier.pagerduty import PagerDutyNotifier

        found.append(
            PagerDutyNotifier(
                routing_key=settings.pagerduty_routing_key.get_secret_value(),
                url=settings.pagerduty_events_url,
                timeout=timeout,
            )
        )
    if settings.page_slack_webhook_url is not None:
        from ragops.providers.notifier.slack import SlackNotifier

        found.append(
            SlackNotifier(url=settings.page_slack_webhook_url.get_secret_value(), timeout=timeout)
        )
    if settings.page_webhook_url:
        from ragops.providers.notifier.webhook import SignedWebhookNotifier

        secret = settings.page_webhook_secret
        if secret is None or not secret.get_secret_value():
            raise ValueError(
                "RAGOPS_PAGE_WEBHOOK_URL needs RAGOPS_PAGE_WEBHOOK_SECRET to sign pages"
            )
        found.append(
            SignedWebhookNotifier(
                url=settings.page_webhook_url,
                secret=secret.get_secret_value().encode(),
                timeout=timeout,
            )
        )
    if settings.smtp_host:
        from ragops.providers.notifier.email import EmailNotifier

        password = settings.smtp_password
        found.append(
            EmailNotifier(
                host=settings.smtp_host,
                port=settings.smtp_port,
                sender=settings.smtp_from,
                starttls=settings.smtp_starttls,
                username=settings.smtp_username,
                password=password.get_secret_value() if password else None,
                timeout=timeout,
            )
        )
    return found
