"""The lean path of exact cache hits on `POST /v1/chat`: the same answer, bytes and all, without
FastAPI's routing, dependency solving and response models.

An exact hit costs a few hundred microseconds of work of its own (version read and turns'
commit shared with other answers); before this path it also paid about as much again for the
route's machinery: a dozen dependency nodes solved per request, the body validated into a
model, the response built as a model and serialised. `ExactHitPath` sits just outside the
router, inside every middleware and the exception handlers, so request ids, body limits,
security headers, per-address limits, request metrics, access log lines, tracing and error
shapes are the ordinary ones. It answers a request itself only when it is certain of the
outcome, and hands everything else to the router untouched (the body it read is replayed):

1. `POST /v1/chat` with `Content-Type: application/json`, no `Idempotency-Key`, a body that
   `ChatRequest` accepts without `session_id` and without `stream`;
2. a working API key with the `chat` scope (`auth.service.authenticate`, read from the
   database on every request as on the ordinary path: revocation and expiry take effect at
   once). A missing or refused key, or a missing scope, goes to the router, which answers the
   401/403 and records the audit event;
3. the per-key `chat` limit counted by the ordinary `check_rate_limit` (counted once per
   request even if the router runs afterwards); a 429 is raised to the same exception handler;
4. a question of at most 256 characters that passes the length rules and that the injection
   scan does not flag; the collection resolved as the ordinary path does;
5. an exact entry under the corpus version read fresh for this request
   (`AnswerCache.exact_raw`). A miss goes to the router, which looks up again and counts it.

On a hit it records what the ordinary path records (`ragops_cache_lookups_total{exact,hit}`,
the `cache_lookup` stage), stores both turns in a new session by the same group commit, and
sends the body the ordinary path would build: the entry's answer, citations and mode are
serialised once (the serialised form is kept per entry, `MEMO_ENTRIES` of them), the ids and
the total time are spliced in by the same serializer. `RAGOPS_CHAT_FAST_PATH=false` turns it
off. `tests/integration/test_chat_fast_path.py` compares both paths byte for byte.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute
from pydantic_core import to_json
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragops.auth import service as auth
from ragops.auth.dependencies import api_key_scheme, bearer_scheme
from ragops.auth.service import OPEN_PRINCIPAL, AuthenticationFailed, Principal
from ragops.cache.models import CachedAnswer
from ragops.chat.models import ChatRequest, ChatResponse, Citation, Timings
from ragops.chat.questions import INLINE_CHECK_CHARS, question_problem
from ragops.chat.service import ChatDeps, resolve_collection
from ragops.chat.turns import store_turns
from ragops.db.base import new_id
from ragops.observability import metrics
from ragops.observability.context import current_request_id, tenant_id_var
from ragops.security.injection import scan_question
from ragops.security.rate_limit import check_rate_limit

PATH = "/v1/chat"
MEMO_ENTRIES = 512
"""Cache entries whose serialised answer is kept in process (keyed by the entry's bytes)."""
_SPLICE = (
    b',"session_id":"S","message_id":"M","request_id":"R","timings":{"embed_ms":0.0,'
    b'"retrieve_ms":0.0,"generate_ms":0.0,"total_ms":0.0}'
)
_TIMINGS = b',"timings":{"embed_ms":0.0,"retrieve_ms":0.0,"generate_ms":0.0,"total_ms":'
_HEADERS_HIT = [(b"x-cache", b"hit-exact")]


@dataclass(frozen=True, slots=True)
class _Served:
    """One cache entry, ready to serve: what the turns store and the body around the ids."""

    answer: str
    mode: str
    citations: tuple[dict[str, Any], ...]
    """The citations as the turns store them (`Citation.model_dump()`), dumped once."""
    head: bytes
    tail: bytes


def _prepare(raw: bytes) -> _Served | None:
    """The entry as the ordinary path would serve it, or None when it would not."""
    try:
        entry = CachedAnswer.model_validate_json(raw)
        citations = [Citation.model_validate(c) for c in entry.citations]
        template = ChatResponse(
            answer=entry.answer,
            citations=citations,
            mode=entry.mode,  # validated: a bad mode raises
            session_id="S",
            message_id="M",
            request_id="R",
            timings=Timings(embed_ms=0.0, retrieve_ms=0.0, generate_ms=0.0, total_ms=0.0),
            fallback_reason=None,
            cache="hit-exact",
        ).model_dump_json()
    except ValueError:
        return None
    body = template.encode()
    at = body.rfind(_SPLICE)
    if at < 0:
        return None
    return _Served(
        answer=entry.answer,
        mode=entry.mode,
        citations=tuple(c.model_dump() for c in citations),
        head=body[:at],
        tail=body[at + len(_SPLICE) :],
    )


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` giving the messages already read, then the connection's own."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


class ExactHitPath:
    """ASGI layer in front of the router serving exact cache hits (see the module docstring).

    `runtime` returns the application's started runtime (None before start-up)."""

    def __init__(
        self, app: ASGIApp, *, route: APIRoute, runtime: Callable[[], Any], enabled: bool = True
    ) -> None:
        self.app = app
        self.route = route
        self.runtime = runtime
        self.enabled = enabled
        self._served: OrderedDict[bytes, _Served] = OrderedDict()
        self.hits = 0
        """Requests this path answered (a figure for tests)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            not self.enabled
            or scope["type"] != "http"
            or scope["path"] != PATH
            or scope["method"] != "POST"
            or scope.get("root_path")
        ):
            await self.app(scope, receive, send)
            return
        json_body = False
        for name, value in scope["headers"]:
            if name == b"idempotency-key":
                await self.app(scope, receive, send)
                return
            if name == b"content-type":
                json_body = value == b"application/json"
        if not json_body:
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        chunks: list[bytes] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                await self.app(scope, _replay(messages, receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = _replay([{"type": "http.request", "body": body, "more_body": False}], receive)
        if not await self._serve(scope, body, replayed, send):
            await self.app(scope, replayed, send)

    async def _serve(self, scope: Scope, body: bytes, receive: Receive, send: Send) -> bool:
        """Answer an exact hit; False (nothing sent, nothing counted twice) otherwise."""
        runtime = self.runtime()
        deps: ChatDeps | None = getattr(runtime, "chat_deps", None) if runtime else None
        if deps is None or deps.answers is None:
            return False
        try:
            asked = ChatRequest.model_validate(json.loads(body))
        except Exception:  # whatever the route makes of it (422, or its own error)
            return False
        if asked.stream or asked.session_id is not None:
            return False
        # What the router sets on a match: a refusal raised from here on (429) is counted and
        # logged under the route's template, as it is when the route's dependency raises it.
        scope["endpoint"] = self.route.endpoint
        scope["path_params"] = {}
        scope["route"] = self.route
        request = Request(scope, receive)
        principal = await self._principal(request, runtime)
        if principal is None or not principal.allows("chat"):
            return False  # the router answers 401/403 and records the audit event
        await check_rate_limit(request, "chat")  # a 429 goes to the exception handler
        started = time.perf_counter()
        settings = deps.settings
        question = asked.question
        if len(question) > INLINE_CHECK_CHARS:
            return False
        text = question.strip()
        if question_problem(settings, text) is not None or scan_question(text).flagged:
            return False  # the route refuses it, or logs and counts the detection
        tenant_id = principal.tenant_id
        try:
            collection = await resolve_collection(deps, tenant_id, asked.collection)
        except Exception:  # the router raises the same error, with its own shape
            return False
        raw = await deps.answers.exact_raw(
            tenant_id=tenant_id,
            collection=collection,
            question=text,
            query=deps.generator.retrieval_query(text, []),
        )
        if raw is None:
            return False
        served = self._entry(raw)
        if served is None:
            return False
        metrics.record_cache("exact", True)
        metrics.observe_stage("cache_lookup", time.perf_counter() - started)
        request_id = current_request_id()
        session_id = new_id()
        message_id = await store_turns(
            deps.db,
            deps.turns,
            tenant_id=tenant_id,
            session_id=session_id,
            collection=collection,
            new_session=True,
            question=text,
            answer=served.answer,
            mode=served.mode,
            citations=list(served.citations),
            request_id=request_id,
        )
        total_ms = round((time.perf_counter() - started) * 1000, 2)
        content = b"".join(
            (
                served.head,
                b',"session_id":',
                to_json(session_id),
                b',"message_id":',
                to_json(message_id),
                b',"request_id":',
                to_json(request_id),
                _TIMINGS,
                to_json(total_ms),
                b"}",
                served.tail,
            )
        )
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    *_HEADERS_HIT,
                    (b"content-length", str(len(content)).encode()),
                    (b"content-type", b"application/json"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": content})
        self.hits += 1
        return True

    @staticmethod
    async def _principal(request: Request, runtime: Any) -> Principal | None:
        """The caller's principal as `auth.dependencies.authenticate` finds it, or None when
        the key does not work (the router then refuses it, audited)."""
        if not runtime.settings.auth_enabled:
            principal = OPEN_PRINCIPAL
        else:
            bearer = await bearer_scheme(request)
            presented = (bearer.credentials if bearer else None) or await api_key_scheme(request)
            if not presented or not presented.strip():
                return None
            try:
                principal = await auth.authenticate(db=runtime.db, key=presented.strip())
            except AuthenticationFailed:
                return None
        request.state.principal = principal
        tenant_id_var.set(principal.tenant_id)
        return principal

    def _entry(self, raw: bytes) -> _Served | None:
        served = self._served.get(raw)
        if served is not None:
            self._served.move_to_end(raw)
            return served
        served = _prepare(raw)
        if served is not None:
            self._served[raw] = served
            if len(self._served) > MEMO_ENTRIES:
                self._served.popitem(last=False)
        return served


def install_fast_path(app: Any, *, enabled: bool) -> None:
    """Put `ExactHitPath` between the exception handlers and the router of `app` (a FastAPI
    application), each time its middleware stack is built."""
    from ragops.security.rate_limit import api_routes

    route = next(
        r
        for path, r in api_routes(app.router.routes)
        if path == PATH and "POST" in (r.methods or ())
    )
    build_stack: Callable[[], ASGIApp] = app.build_middleware_stack

    def runtime() -> Any:
        return getattr(app.state, "runtime", None)

    def build_with_fast_path() -> ASGIApp:
        stack = build_stack()
        node: Any = stack
        while node is not None and getattr(node, "app", None) is not app.router:
            node = getattr(node, "app", None)
        if node is None:
            raise RuntimeError("the router is not at the bottom of the middleware stack")
        fast = ExactHitPath(node.app, route=route, runtime=runtime, enabled=enabled)
        node.app = fast
        app.state.fast_path = fast
        return stack

    app.build_middleware_stack = build_with_fast_path
