"""API keys: create, list, revoke, rotate and check them.

A key is `rgo_` followed by 43 URL-safe characters: 32 random bytes from `secrets`, 256 bits.
Only its SHA-256 hash is stored, with the first 12 characters (`rgo_` and 8 more) as a
non-secret prefix to recognise it by. A plain hash is the right verifier for a random secret
this long (salts and slow hashes protect guessable passwords; nobody can enumerate 2^256
keys), and it lets a request find its key with one indexed lookup.

Every key change writes its audit event in the same transaction as the change. Rotation
issues a successor with the same tenant, scopes and name and lets the old key work for the
overlap window (`api_key_rotation_overlap_hours`), after which it is expired. A check of a
valid key updates its `last_used_at` at most once a minute, not on every request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, or_, select, update

from ragops.auth.audit import log_event, new_event
from ragops.auth.models import (
    ALL_SCOPES,
    ApiKey,
    ApiKeyCreated,
    ApiKeyRead,
    AuditEvent,
    KeyStatus,
    Scope,
    aware,
    parse_scopes,
    validate_key_name,
    validate_tenant,
)
from ragops.db import Database
from ragops.db.base import utcnow
from ragops.errors import ConflictError, NotFoundError

KEY_PREFIX = "rgo_"
KEY_BYTES = 32
PREFIX_CHARS = 12
MAX_KEY_CHARS = 256
DEFAULT_TENANT = "default"
LAST_USED_EVERY = timedelta(minutes=1)
_KEY_BY_HASH = select(
    ApiKey.id,
    ApiKey.tenant_id,
    ApiKey.scopes,
    ApiKey.expires_at,
    ApiKey.revoked_at,
    ApiKey.last_used_at,
).where(ApiKey.key_hash == bindparam("key_hash"))


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: a tenant, its scopes and the key (by id) that proved it."""

    tenant_id: str
    scopes: frozenset[str]
    key_id: str | None = None

    def allows(self, scope: Scope) -> bool:
        """Whether the key carries `scope`."""
        return scope in self.scopes


OPEN_PRINCIPAL = Principal(tenant_id=DEFAULT_TENANT, scopes=frozenset(ALL_SCOPES))


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks for a key change, as the audit trail names it (the key by id only)."""

    key_id: str | None = None
    client_address: str | None = None
    request_id: str | None = None
    interface: str = "cli"


CLI_ACTOR = Actor()

_MESSAGES = {
    "missing": "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key'",
    "unknown": "the API key is not valid",
    "expired": "the API key has expired",
    "revoked": "the API key has been revoked",
}


class AuthenticationFailed(Exception):
    """A request's key is missing, unknown, expired or revoked (HTTP 401)."""

    def __init__(
        self, reason: str, *, key_id: str | None = None, tenant_id: str | None = None
    ) -> None:
        self.reason = reason
        self.key_id = key_id
        self.tenant_id = tenant_id
        self.message = _MESSAGES.get(reason, _MESSAGES["unknown"])
        super().__init__(self.message)


def generate_key() -> str:
    """A new random API key."""
    return KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)


def hash_key(key: str) -> str:
    """The stored verifier of `key`: its SHA-256, hex (the rate limiter may use it as an id)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_status(row: ApiKey, now: datetime | None = None) -> KeyStatus:
    """Whether the key works now."""
    return _status(row.revoked_at, row.expires_at, now or utcnow())


def _status(revoked_at: datetime | None, expires_at: datetime | None, now: datetime) -> KeyStatus:
    if revoked_at is not None:
        return "revoked"
    expires = aware(expires_at)
    if expires is not None and expires <= now:
        return "expired"
    return "active"


def _read(row: ApiKey) -> ApiKeyRead:
    return ApiKeyRead(
        id=row.id,
        prefix=row.prefix,
        name=row.name,
        tenant_id=row.tenant_id,
        scopes=list(parse_scopes(row.scopes)),
        status=key_status(row),
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
        replaced_by=row.replaced_by,
    )


def _new_row(
    *, tenant_id: str, scopes: tuple[Scope, ...], name: str, lifetime: timedelta | None
) -> tuple[str, ApiKey]:
    key = generate_key()
    now = utcnow()
    row = ApiKey(
        id=secrets.token_hex(6),
        key_hash=hash_key(key),
        prefix=key[:PREFIX_CHARS],
        tenant_id=tenant_id,
        name=name,
        scopes=",".join(scopes),
        created_at=now,
        expires_at=now + lifetime if lifetime is not None else None,
    )
    return key, row


def _event(action: str, row: ApiKey, actor: Actor, **detail: object) -> AuditEvent:
    return new_event(
        action=action,
        tenant_id=row.tenant_id,
        actor_key_id=actor.key_id,
        target=row.id,
        client_address=actor.client_address,
        request_id=actor.request_id,
        detail={"interface": actor.interface, **detail},
    )


async def create_key(
    *,
    db: Database,
    tenant_id: str,
    scopes: str | list[str] | tuple[str, ...],
    name: str = "",
    lifetime: timedelta | None = None,
    actor: Actor = CLI_ACTOR,
) -> ApiKeyCreated:
    """Create a key; the result carries the key itself, which is never available again."""
    validate_tenant(tenant_id)
    validate_key_name(name)
    granted = parse_scopes(scopes)
    key, row = _new_row(tenant_id=tenant_id, scopes=granted, name=name, lifetime=lifetime)
    event = _event("key.create", row, actor, scopes=list(granted), expires_at=row.expires_at)
    async with db.session() as session:
        session.add_all([row, event])
        await session.commit()
    log_event(event)
    return ApiKeyCreated(key=key, api_key=_read(row))


async def list_keys(*, db: Database, tenant_id: str | None = None) -> list[ApiKeyRead]:
    """Keys newest first, of one tenant or (None) of every tenant."""
    query = select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id)
    if tenant_id is not None:
        query = query.where(ApiKey.tenant_id == tenant_id)
    async with db.session() as session:
        rows = (await session.scalars(query)).all()
    return [_read(row) for row in rows]


async def count_keys(*, db: Database) -> int:
    """How many keys exist, whatever their state."""
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(ApiKey)) or 0)


def _not_found(key_id: str) -> NotFoundError:
    return NotFoundError(f"API key {key_id} not found", code="key_not_found")


async def revoke_key(
    *, db: Database, key_id: str, tenant_id: str | None, actor: Actor = CLI_ACTOR
) -> ApiKeyRead:
    """Revoke a key at once (of `tenant_id` only, unless None). Revoking twice changes nothing."""
    async with db.session() as session:
        row = await session.get(ApiKey, key_id, with_for_update=True)
        if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
            raise _not_found(key_id)
        already = row.revoked_at is not None
        if not already:
            row.revoked_at = utcnow()
        event = _event("key.revoke", row, actor, already_revoked=already)
        session.add(event)
        await session.commit()
    log_event(event)
    return _read(row)


async def rotate_key(
    *,
    db: Database,
    key_id: str,
    tenant_id: str | None,
    overlap: timedelta,
    lifetime: timedelta | None = None,
    actor: Actor = CLI_ACTOR,
) -> ApiKeyCreated:
    """Issue a successor of an active key; the old one works for `overlap`, then expires.

    The successor keeps the tenant, scopes and name; its lifetime is `lifetime`, else the old
    key's (creation to expiry), else none.
    """
    async with db.session() as session:
        old = await session.get(ApiKey, key_id, with_for_update=True)
        if old is None or (tenant_id is not None and old.tenant_id != tenant_id):
            raise _not_found(key_id)
        if key_status(old) != "active":
            raise ConflictError(f"API key {key_id} is {key_status(old)}", code="key_not_active")
        if old.replaced_by is not None:
            raise ConflictError(
                f"API key {key_id} was already rotated to {old.replaced_by}",
                code="key_already_rotated",
            )
        old_expires = aware(old.expires_at)
        if lifetime is None and old_expires is not None:
            lifetime = old_expires - (aware(old.created_at) or old_expires)
        key, new = _new_row(
            tenant_id=old.tenant_id,
            scopes=parse_scopes(old.scopes),
            name=old.name,
            lifetime=lifetime,
        )
        cutoff = utcnow() + overlap
        old.expires_at = cutoff if old_expires is None else min(old_expires, cutoff)
        old.replaced_by = new.id
        event = _event("key.rotate", old, actor, new_key_id=new.id, old_expires_at=old.expires_at)
        session.add_all([new, event])
        await session.commit()
    log_event(event)
    return ApiKeyCreated(key=key, api_key=_read(new), previous=_read(old))


async def authenticate(*, db: Database, key: str) -> Principal:
    """The principal of a presented key; AuthenticationFailed when it does not work.

    The key's row is read on every call (`Database.read_now`: on SQLite without a thread
    hop), so a revocation or an expiry takes effect at once."""
    if not key.startswith(KEY_PREFIX) or len(key) > MAX_KEY_CHARS:
        raise AuthenticationFailed("unknown")
    rows = await db.read_now(_KEY_BY_HASH.params(key_hash=hash_key(key)))
    if not rows:
        raise AuthenticationFailed("unknown")
    row = rows[0]
    now = utcnow()
    status = _status(row.revoked_at, row.expires_at, now)
    if status != "active":
        raise AuthenticationFailed(status, key_id=row.id, tenant_id=row.tenant_id)
    last_used = aware(row.last_used_at)
    if last_used is None or last_used < now - LAST_USED_EVERY:
        async with db.session() as session:
            await session.execute(
                update(ApiKey)
                .where(
                    ApiKey.id == row.id,
                    or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - LAST_USED_EVERY),
                )
                .values(last_used_at=now)
                .execution_options(synchronize_session=False)
            )
            await session.commit()
    return Principal(
        tenant_id=row.tenant_id, scopes=frozenset(parse_scopes(row.scopes)), key_id=row.id
    )
