"""The local bootstrap key, so that `make run` is usable at once and still never open.

On the start of an instance that has no API key at all (none active, expired or revoked),
with `auth_enabled` and `bootstrap_api_key` on, an admin key of tenant "default" (scopes chat,
ingest and admin) is created and printed once on the console (stderr). This is the only time
ragops ever shows a key in its output: it is printed with rich directly, not through logging,
whose redaction would (rightly) hide it. In production (`environment=production`) nothing is
created: the first key comes from `ragops keys create`.
"""

from __future__ import annotations

import logging

from rich.console import Console
from rich.panel import Panel

from ragops.auth.models import ALL_SCOPES
from ragops.auth.service import DEFAULT_TENANT, Actor, count_keys, create_key
from ragops.config import Settings
from ragops.db import Database
from ragops.db.locks import BOOTSTRAP_LOCK, advisory_lock

logger = logging.getLogger(__name__)

BOOTSTRAP_NAME = "bootstrap"


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
    out = console or Console(stderr=True)
    out.print(
        Panel(
            f"{created.key}\n\n"
            f"Admin key of tenant '{DEFAULT_TENANT}' (id {created.api_key.id}), "
            "shown only this once.\n"
            "Send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.\n"
            "Manage keys with `ragops keys list|create|revoke|rotate`.",
            title="ragops: first start, bootstrap API key",
            expand=False,
        ),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    return created.key
