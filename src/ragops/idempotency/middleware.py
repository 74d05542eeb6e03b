"""`Idempotency-Key` on the API's POST routes: a retry with the same key returns the first
result (status, headers that describe the answer, body), on any instance.

Two parts work together:

- `IdempotencyMiddleware` (pure ASGI) sees a POST or PATCH that carries the header: it
  checks the key (1 to 255 visible ASCII characters, else 400 `invalid_idempotency_key`),
  fingerprints the request (SHA-256 of method, path, query and body, hashed as the body is
  read; a multipart body's boundary, which a client picks anew for each attempt, hashed as
  one fixed token: `fingerprint.py`) and records the response as it is sent. When the
  request had claimed the key, it then keeps the answer for retries, or lets the key go:
  after a 5xx, a 408/409/425/429, or an answer larger than `MAX_STORED_BYTES` a retry runs
  the request again.
- `idempotency_guard`, a dependency `apply_idempotency` adds to every POST/PATCH route of
  `/v1` after the route's own authentication (and before its rate limit, so a replay costs no
  quota), claims the key in the tenant's scope (`IdempotencyStore`). It answers a retry with
  the stored result and the header `Idempotent-Replayed: true`; a different request under a
  used key with 422 `idempotency_key_reused`; a retry arriving while the first request still
  runs (on any instance) waits up to `RAGOPS_IDEMPOTENCY_WAIT_SECONDS` for its result, then
  gets 409 `idempotency_in_progress` with `Retry-After`. An answer marked
  `Cache-Control: no-store` (a new API key) is never stored: its retries get 409
  `idempotency_answer_not_kept`, so the key is not created twice and the secret is in no
  table.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragops.errors import ConflictError, RagopsError, ValidationFailed, send_error
from ragops.idempotency.fingerprint import RequestFingerprint, multipart_boundary
from ragops.idempotency.service import LEASE_SECONDS, IdempotencyStore

HEADER = b"idempotency-key"
REPLAYED = "Idempotent-Replayed"
METHODS = frozenset({"POST", "PATCH"})
MAX_KEY_LENGTH = 255
MAX_STORED_BYTES = 1024 * 1024
NOT_STORED = frozenset({408, 409, 425, 429})
KEPT_HEADERS = frozenset(
    {"content-type", "location", "x-cache", "x-degraded", "cache-control", "content-language"}
)
STATE_KEY = "idempotency"
POLL_SECONDS = 0.1
PURGE_EVERY_SECONDS = 600.0

logger = logging.getLogger(__name__)

OUTCOMES = Counter(
    "ragops_idempotency_requests_total",
    "Requests carrying an Idempotency-Key, by what became of the key: claimed (ran), "
    "replayed, reused (422), in_progress (409), not_kept (409, a secret-bearing answer).",
    ["outcome"],
)


class IdempotentReplay(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by the guard to answer with a stored result."""

    def __init__(self, status_code: int, headers: list[list[str]], body: bytes) -> None:
        super().__init__("replay")
        self.status_code, self.headers, self.body = status_code, headers, body


@dataclass
class KeyedRequest:
    """One request carrying an Idempotency-Key, shared by the middleware and the guard."""

    key: str
    hasher: RequestFingerprint
    body_done: bool = False
    scope_id: str | None = None
    store: IdempotencyStore | None = None
    heartbeat: asyncio.Task[None] | None = None
    status: int | None = None
    headers: list[list[str]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    complete: bool = False
    too_large: bool = False
    no_store: bool = False
    settled: bool = False


def _valid_key(raw: bytes) -> str | None:
    if not 1 <= len(raw) <= MAX_KEY_LENGTH or any(b < 0x21 or b > 0x7E for b in raw):
        return None
    return raw.decode("ascii")


class IdempotencyMiddleware:
    """Fingerprint keyed requests and record their answers (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in METHODS:
            await self.app(scope, receive, send)
            return
        raw = next((v for k, v in scope.get("headers", []) if k == HEADER), None)
        if raw is None:
            await self.app(scope, receive, send)
            return
        key = _valid_key(raw)
        if key is None:
            await send_error(
                send,
                scope,
                400,
                "invalid_idempotency_key",
                f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} visible ASCII characters",
            )
            return
        content_type = next((v for k, v in scope.get("headers", []) if k == b"content-type"), None)
        hasher = RequestFingerprint(
            scope["method"],
            scope.get("path", ""),
            scope.get("query_string", b""),
            multipart_boundary(content_type),
        )
        keyed = KeyedRequest(key=key, hasher=hasher)
        scope.setdefault("state", {})[STATE_KEY] = keyed

        async def hashing_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                keyed.hasher.update(message.get("body", b""))
                if not message.get("more_body", False):
                    keyed.body_done = True
            return message

        async def recording_send(message: Message) -> None:
            if keyed.scope_id is not None:
                _record(keyed, message)
                if keyed.complete and not keyed.settled:
                    # Kept or let go before the client has the whole answer, so a retry it
                    # sends at once finds the stored result or a free key, never a claim.
                    await _settle(keyed)
            await send(message)

        try:
            await self.app(scope, hashing_receive, recording_send)
        finally:
            if not keyed.settled:
                await _settle(keyed)


def _record(keyed: KeyedRequest, message: Message) -> None:
    if message["type"] == "http.response.start":
        keyed.status = int(message["status"])
        keyed.no_store = any(
            k.lower() == b"cache-control" and b"no-store" in v.lower()
            for k, v in message.get("headers", [])
        )
        keyed.headers = [
            [k.decode("latin-1"), v.decode("latin-1")]
            for k, v in message.get("headers", [])
            if k.decode("latin-1").lower() in KEPT_HEADERS
        ]
    elif message["type"] == "http.response.body" and not keyed.too_large:
        keyed.body += message.get("body", b"")
        if len(keyed.body) > MAX_STORED_BYTES:
            keyed.too_large = True
            keyed.body.clear()
        if not message.get("more_body", False):
            keyed.complete = True


async def _settle(keyed: KeyedRequest) -> None:
    """Keep the answer of a request that claimed its key, or let the key go (once)."""
    keyed.settled = True
    if keyed.heartbeat is not None:
        keyed.heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await keyed.heartbeat
    if keyed.store is None or keyed.scope_id is None:
        return
    status = keyed.status
    keep = (
        status is not None
        and status < 500
        and status not in NOT_STORED
        and keyed.complete
        and not keyed.too_large
    )
    try:
        if keep and status is not None:
            await keyed.store.complete(
                keyed.scope_id,
                keyed.key,
                status,
                keyed.headers,
                bytes(keyed.body),
                sealed=keyed.no_store,
            )
        else:
            await keyed.store.release(keyed.scope_id, keyed.key)
    except Exception:  # the lease lapses on its own; a retry then takes the key over
        logger.warning("idempotency record not settled", exc_info=True)


async def _renew(store: IdempotencyStore, scope_id: str, key: str) -> None:
    while True:
        await asyncio.sleep(LEASE_SECONDS / 3)
        try:
            await store.renew(scope_id, key)
        except Exception:  # a missed renewal; the next one may work
            logger.warning("idempotency lease not renewed", exc_info=True)


def _tenant_scope(request: Request) -> str:
    principal = getattr(request.state, "principal", None)
    tenant = getattr(principal, "tenant_id", None)
    if tenant:
        return f"tenant:{tenant}"
    credential = request.headers.get("authorization") or request.headers.get("x-api-key") or ""
    return "caller:" + hashlib.sha256(credential.encode()).hexdigest()[:32]


async def idempotency_guard(request: Request) -> None:
    """Claim the request's Idempotency-Key (see the module docstring)."""
    keyed: KeyedRequest | None = request.scope.get("state", {}).get(STATE_KEY)
    runtime = getattr(request.app.state, "runtime", None)
    if keyed is None or runtime is None or keyed.scope_id is not None:
        return
    if not keyed.body_done:
        await request.body()  # a route that reads no body: hash what there is
    settings = runtime.settings
    store = IdempotencyStore(runtime.db, timedelta(hours=settings.idempotency_key_hours))
    scope_id = _tenant_scope(request)
    fingerprint = keyed.hasher.hexdigest()
    _maybe_purge(store)
    deadline = time.monotonic() + settings.idempotency_wait_seconds
    while True:
        claim = await store.claim(scope_id, keyed.key, fingerprint)
        if claim.outcome == "claimed":
            OUTCOMES.labels("claimed").inc()
            keyed.store, keyed.scope_id = store, scope_id
            keyed.heartbeat = asyncio.create_task(_renew(store, scope_id, keyed.key))
            return
        if claim.outcome == "replay":
            OUTCOMES.labels("replayed").inc()
            raise IdempotentReplay(claim.status_code or 200, claim.headers or [], claim.body or b"")
        if claim.outcome == "sealed":
            OUTCOMES.labels("not_kept").inc()
            raise ConflictError(
                f"the request with this Idempotency-Key succeeded ({claim.status_code}); its "
                "answer held a secret and was not kept",
                code="idempotency_answer_not_kept",
            )
        if claim.outcome == "mismatch":
            OUTCOMES.labels("reused").inc()
            raise ValidationFailed(
                "this Idempotency-Key was used for a different request; use a new key",
                code="idempotency_key_reused",
            )
        if time.monotonic() >= deadline:
            OUTCOMES.labels("in_progress").inc()
            raise _InProgress(
                "a request with this Idempotency-Key is still running; retry shortly",
                code="idempotency_in_progress",
            )
        await asyncio.sleep(POLL_SECONDS)


class _Sweeps:
    """One sweep of expired keys per process and PURGE_EVERY_SECONDS."""

    next_at = 0.0
    task: asyncio.Task[None] | None = None


def _maybe_purge(store: IdempotencyStore) -> None:
    now = time.monotonic()
    if now < _Sweeps.next_at:
        return
    _Sweeps.next_at = now + PURGE_EVERY_SECONDS

    async def sweep() -> None:
        try:
            await store.purge_expired()
        except Exception:  # the next sweep tries again
            logger.warning("expired idempotency keys not purged", exc_info=True)

    _Sweeps.task = asyncio.create_task(sweep())


class _InProgress(ConflictError):
    """409 with Retry-After (set by the handler)."""


def apply_idempotency(app: FastAPI) -> None:
    """Add the guard to every POST/PATCH route under /v1, after its own dependencies; answer
    replays; install the middleware."""
    from ragops.security.rate_limit import api_routes

    for path, route in api_routes(app.router.routes):
        if not path.startswith("/v1/") or not (set(route.methods or ()) & METHODS):
            continue
        if not isinstance(route, APIRoute):
            continue
        if not any(getattr(d, "dependency", None) is idempotency_guard for d in route.dependencies):
            route.dependencies.append(Depends(idempotency_guard))

    @app.exception_handler(IdempotentReplay)
    async def _replay(_: Request, exc: IdempotentReplay) -> Response:
        response = Response(content=exc.body, status_code=exc.status_code)
        for name, value in exc.headers:
            response.headers[name] = value
        response.headers[REPLAYED] = "true"
        return response

    @app.exception_handler(_InProgress)
    async def _busy(_: Request, exc: RagopsError) -> Response:
        from ragops.api.errors import error_response

        response = error_response(exc.status, exc.code, exc.message)
        response.headers["Retry-After"] = "1"
        return response

    app.add_middleware(IdempotencyMiddleware)
