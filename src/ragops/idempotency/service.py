"""The idempotency store: claim a key, renew its lease while the request runs, then keep the
answer (or let the key go), in the database table `idempotency_keys`.

Why the database rather than Redis: a replayed answer stands in for a write that is in the
database (a document, a key, a chat turn); keeping the record beside it means a Redis outage
or restart (which the product survives by bypassing caches) cannot make a retry do the write
twice, and every instance sees the same record without a second store to run.

A claim is one INSERT ... ON CONFLICT DO NOTHING: exactly one request wins a new key. The
winner's row is `pending` under a lease (`LEASE_SECONDS`) that its instance renews while the
request runs; a request finding a pending row whose lease lapsed (its instance died) takes it
over. Rows expire after `RAGOPS_IDEMPOTENCY_KEY_HOURS`; an expired row is deleted when its
key is used again, and each instance sweeps all expired rows at most every ten minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ragops.db.base import utcnow
from ragops.db.engine import Database
from ragops.idempotency.models import IdempotencyRecord

LEASE_SECONDS = 5.0
"""How long a pending claim holds without renewal; its instance renews it every third."""

Outcome = Literal["claimed", "replay", "sealed", "mismatch", "busy"]


@dataclass(frozen=True)
class Claim:
    """What `claim` found: the key is ours now, a finished answer to replay, a different
    request under the same key, or the same request still running elsewhere."""

    outcome: Outcome
    status_code: int | None = None
    headers: list[list[str]] | None = None
    body: bytes | None = None


class IdempotencyStore:
    """Idempotency records in the shared database."""

    def __init__(self, db: Database, ttl: timedelta) -> None:
        self.db = db
        self.ttl = ttl

    def _insert(self, values: dict[str, Any]) -> Any:
        dialect = postgresql if self.db.backend == "postgresql" else sqlite
        return (
            dialect.insert(IdempotencyRecord)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["scope", "key"])
        )

    async def claim(self, scope: str, key: str, fingerprint: str) -> Claim:
        """Take `key` for this request, or say why not."""
        for _ in range(3):
            now = utcnow()
            values = {
                "scope": scope,
                "key": key,
                "fingerprint": fingerprint,
                "state": "pending",
                "lease_until": now + timedelta(seconds=LEASE_SECONDS),
                "created_at": now,
                "expires_at": now + self.ttl,
            }
            async with self.db.session() as session:
                inserted = await session.execute(self._insert(values))
                await session.commit()
                if getattr(inserted, "rowcount", 0) == 1:
                    return Claim("claimed")
                row = (
                    await session.execute(
                        select(IdempotencyRecord).where(
                            IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
                        )
                    )
                ).scalar_one_or_none()
                if row is None:
                    continue  # let go meanwhile: try again
                if _aware(row.expires_at) <= now:
                    await session.execute(
                        delete(IdempotencyRecord).where(
                            IdempotencyRecord.scope == scope,
                            IdempotencyRecord.key == key,
                            IdempotencyRecord.expires_at == row.expires_at,
                        )
                    )
                    await session.commit()
                    continue
                if row.fingerprint != fingerprint:
                    return Claim("mismatch")
                if row.state == "done":
                    return Claim("replay", row.status_code, row.headers, row.body)
                if row.state == "sealed":
                    return Claim("sealed", row.status_code)
                if _aware(row.lease_until) > now:
                    return Claim("busy")
                taken = await session.execute(
                    update(IdempotencyRecord)
                    .where(
                        IdempotencyRecord.scope == scope,
                        IdempotencyRecord.key == key,
                        IdempotencyRecord.state == "pending",
                        IdempotencyRecord.lease_until == row.lease_until,
                    )
                    .values(lease_until=now + timedelta(seconds=LEASE_SECONDS))
                )
                await session.commit()
                if getattr(taken, "rowcount", 0) == 1:
                    return Claim("claimed")
        return Claim("busy")

    async def renew(self, scope: str, key: str) -> None:
        """Extend a pending claim's lease (the request still runs)."""
        async with self.db.session() as session:
            await session.execute(
                update(IdempotencyRecord)
                .where(
                    IdempotencyRecord.scope == scope,
                    IdempotencyRecord.key == key,
                    IdempotencyRecord.state == "pending",
                )
                .values(lease_until=utcnow() + timedelta(seconds=LEASE_SECONDS))
            )
            await session.commit()

    async def complete(
        self,
        scope: str,
        key: str,
        status_code: int,
        headers: list[list[str]],
        body: bytes,
        *,
        sealed: bool = False,
    ) -> None:
        """Keep the answer of a finished request, for its retries; `sealed` keeps only that
        it succeeded (an answer marked no-store, such as a new API key, is never stored)."""
        async with self.db.session() as session:
            await session.execute(
                update(IdempotencyRecord)
                .where(
                    IdempotencyRecord.scope == scope,
                    IdempotencyRecord.key == key,
                    IdempotencyRecord.state == "pending",
                )
                .values(
                    state="sealed" if sealed else "done",
                    status_code=status_code,
                    headers=None if sealed else headers,
                    body=None if sealed else body,
                )
            )
            await session.commit()

    async def release(self, scope: str, key: str) -> None:
        """Let the key go (the request failed in a way a retry may repair)."""
        async with self.db.session() as session:
            await session.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.scope == scope,
                    IdempotencyRecord.key == key,
                    IdempotencyRecord.state == "pending",
                )
            )
            await session.commit()

    async def purge_expired(self) -> int:
        """Delete every expired record; how many."""
        async with self.db.session() as session:
            result = await session.execute(
                delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= utcnow())
            )
            await session.commit()
            return int(getattr(result, "rowcount", 0) or 0)


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC)."""
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
