"""Error reporting to Sentry (or any Sentry-compatible server) when `RAGOPS_SENTRY_DSN` is set.

Events carry the release (`ragops@<version>`), the environment and the request id as the
`request_id` tag; no personal data is sent (`send_default_pii=False`) and every event is
scrubbed with the log redaction before it leaves the process: API keys, bearer tokens,
passwords and connection-string credentials never reach the server.
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Any

from ragops import __version__
from ragops.config import Settings
from ragops.observability.context import request_id_var
from ragops.observability.logging import redact_value

if TYPE_CHECKING:
    from sentry_sdk.types import Event, Hint

logger = logging.getLogger(__name__)


def release_name() -> str:
    """The release events are grouped under."""
    return f"ragops@{__version__}"


def scrub_event(event: Event, _hint: Hint | None = None) -> Event | None:
    """`event` with every secret-looking value redacted and the request id tagged."""
    cleaned: dict[str, Any] = {key: redact_value(key, value) for key, value in dict(event).items()}
    request_id = request_id_var.get()
    tags = cleaned.get("tags")
    if request_id and (not isinstance(tags, dict) or "request_id" not in tags):
        cleaned["tags"] = {**(tags if isinstance(tags, dict) else {}), "request_id": request_id}
    return cleaned  # type: ignore[return-value]


def install_sentry(settings: Settings) -> bool:
    """Start the Sentry client when a DSN is configured; returns whether it started."""
    if settings.sentry_dsn is None:
        return False
    import sentry_sdk

    with warnings.catch_warnings():
        # Explicit on every SDK version; newer SDKs say `data_collection` supersedes it.
        warnings.filterwarnings("ignore", "The send_default_pii option", DeprecationWarning)
        sentry_sdk.init(
            dsn=settings.sentry_dsn.get_secret_value(),
            release=release_name(),
            environment=settings.sentry_environment or settings.environment,
            send_default_pii=False,
            traces_sample_rate=settings.sentry_traces_sample_rate,
            before_send=scrub_event,
            before_send_transaction=scrub_event,
            max_request_body_size="never",
        )
    return True


def close_sentry() -> None:
    """Send the events still queued and stop the client (at shutdown)."""
    import sentry_sdk

    client = sentry_sdk.get_client()
    if client.is_active():
        client.flush(timeout=5)
        client.close(timeout=2)
