"""Helpers of the security tests: read and adjust the key and audit tables directly (to move
a key's clock without sleeping), and call the API with a given key."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from sqlalchemy import select, update

from ragops.auth.models import ApiKey, AuditEvent
from ragops.auth.service import hash_key
from ragops.config import Settings
from ragops.db import Database
from tests.conftest import run_sync

T = TypeVar("T")


def with_db(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run `work` on a database of its own (the server keeps its own pool)."""

    async def main() -> T:
        db = Database(settings)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return run_sync(main())


def key_row(settings: Settings, key: str) -> ApiKey:
    """The stored row of `key`, found by its hash."""

    async def work(db: Database) -> ApiKey:
        async with db.session() as session:
            row = await session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
        assert row is not None
        return row

    return with_db(settings, work)


def set_key(settings: Settings, key_id: str, **values: Any) -> None:
    """Change columns of a key row (e.g. `expires_at` in the past: the key's time is up)."""

    async def work(db: Database) -> None:
        async with db.session() as session:
            await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(**values))
            await session.commit()

    with_db(settings, work)


def audit_rows(settings: Settings, action: str | None = None) -> list[AuditEvent]:
    """Every audit event (of one action), oldest first."""

    async def work(db: Database) -> list[AuditEvent]:
        query = select(AuditEvent).order_by(AuditEvent.id)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        async with db.session() as session:
            return list((await session.scalars(query)).all())

    return with_db(settings, work)


def dump_tables(settings: Settings) -> str:
    """Every value of the key and audit tables as one text, to search for leaked keys."""
    rows: list[dict[str, Any]] = []
    for model in (ApiKey, AuditEvent):

        async def work(db: Database, model: Any = model) -> list[Any]:
            async with db.session() as session:
                return list((await session.scalars(select(model))).all())

        for row in with_db(settings, work):
            rows.append({c.name: getattr(row, c.name) for c in model.__table__.columns})
    return json.dumps(rows, default=str)


def bearer(key: str) -> dict[str, str]:
    """The header the openai client sends."""
    return {"Authorization": f"Bearer {key}"}


def make_key(client: httpx.Client, *scopes: str, **body: Any) -> dict[str, Any]:
    """Create a key of the admin client's tenant over the API; the JSON answer."""
    response = client.post("/v1/admin/keys", json={"scopes": list(scopes), **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created
