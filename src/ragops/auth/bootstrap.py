"""The local bootstrap key, so that `make run` is usable at once and still never open.

On the start of an instance that has no API key at all (none active, expired or revoked),
with `auth_enabled` and `bootstrap_api_key` on, an admin key of tenant "default" (scopes chat,
ingest and admin) is created and printed once on the console (stderr). This is the only time
ragops ever shows a key in its output: it is written directly to stderr, not through logging,
whose redaction would (rightly) hide it and whose other sinks (a handler a deployment adds,
Sentry's breadcrumbs) must never see it. With console logs it is a rich panel; with JSON logs
(`RAGOPS_LOG_FORMAT=json`) one JSON line shaped like the log lines around it
(`"event": "bootstrap_api_key"`, the key in `key`), so that the stream stays one JSON document
a line. In production (`environment=production`) nothing is created: the first key comes from
`ragops keys create`.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

from rich.console import Console
from rich.panel import Panel

from ragops.auth.models import ALL_SCOPES
from ragops.auth.service import DEFAULT_TENANT, Actor, count_keys, create_key
from ragops.config import Settings
from ragops.db import Database
from ragops.db.locks import BOOTSTRAP_LOCK, advisory_lock
from ragops.observability.logging import use_json

logger = logging.getLogger(__name__)

BOOTSTRAP_NAME = "bootstrap"
JSON_EVENT = "bootstrap_api_key"
HINT = (
    "Send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'. "
    "Manage keys with `ragops keys list|create|revoke|rotate`."
)


async def ensure_bootstrap_key(
    *, settings: Settings, db: Database, console: Console | None = None
) -> str | None:
    """Create and print the bootstrap key when due; the key, or None when none was made."""
    if not settings.auth_enabled or not settings.bootstrap_api_key:
        return None
    async with advisory_lock(db.engine, BOOTSTRAP_LOCK):  # instances starting together
        return await _create_if_none(settings=settings, db=db, console=console)


async def _create_if_none(
    *, settings: Settings, db: Database, console: Console | None
) -> str | None:
    if await count_keys(db=db) > 0:
        return None
    if settings.environment == "production":
        logger.warning(
            "no API key exists yet: create one with "
            "`ragops keys create --tenant TENANT --scopes chat,ingest,admin`"
        )
        return None
    created = await create_key(
        db=db,
        tenant_id=DEFAULT_TENANT,
        scopes=ALL_SCOPES,
        name=BOOTSTRAP_NAME,
        actor=Actor(interface="bootstrap"),
    )
    if console is None and use_json(settings):
        _write_json_line(sys.stderr, key=created.key, key_id=created.api_key.id)
    else:
        _print_panel(console or Console(stderr=True), key=created.key, key_id=created.api_key.id)
    return created.key


def _write_json_line(stream: TextIO, *, key: str, key_id: str) -> None:
    """The key as one JSON line, with the fields every log line has (not through logging)."""
    line = {
        "event": JSON_EVENT,
        "key": key,
        "key_id": key_id,
        "tenant_id": DEFAULT_TENANT,
        "scopes": list(ALL_SCOPES),
        "note": f"Admin key of tenant '{DEFAULT_TENANT}', shown only this once. {HINT}",
        "level": "warning",
        "logger": __name__,
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    stream.write(json.dumps(line) + "\n")
    stream.flush()


def _print_panel(out: Console, *, key: str, key_id: str) -> None:
    out.print(
        Panel(
            f"{key}\n\n"
            f"Admin key of tenant '{DEFAULT_TENANT}' (id {key_id}), shown only this once.\n"
            "Send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.\n"
            "Manage keys with `ragops keys list|create|revoke|rotate`.",
            title="ragops: first start, bootstrap API key",
            expand=False,
        ),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
