"""Steady load against a running service, with every request's outcome kept, for the stack's
tests, drills and `bench/load.py`.

`SteadyLoad(url, api_key, users=...)` runs `users` loops in a thread of its own (its own
event loop) from `start()` to `stop()`. Each loop sends, in turn, a `GET /v1/collections`, a
`POST /v1/chat` without an `Idempotency-Key` and one with a fresh key, pausing `pause`
seconds between requests. `stop()` returns one `Outcome` per request: when it started and
ended (monotonic seconds), its kind, the status (None when the connection failed), the
instance that answered (nginx's `X-Upstream`), so a test can count failures exactly and ask
when they happened.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

QUESTIONS = (
    "How do I rotate an API key?",
    "What does the readiness probe check?",
    "How do I roll back a bad release?",
    "Which file formats can I upload?",
)
KINDS = ("get", "chat", "chat-keyed")


@dataclass(frozen=True)
class Outcome:
    """One request of the load."""

    kind: str
    started: float
    ended: float
    status: int | None
    upstream: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def ms(self) -> float:
        return (self.ended - self.started) * 1000


@dataclass
class LoadReport:
    """The outcomes of one run, with the counts tests assert on."""

    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def summary(self) -> str:
        by_status: dict[str, int] = {}
        for o in self.outcomes:
            label = str(o.status) if o.status is not None else f"error:{o.error}"
            by_status[label] = by_status.get(label, 0) + 1
        return f"{len(self.outcomes)} requests, {len(self.failed)} failed: {by_status}"


class SteadyLoad:
    """`users` concurrent loops of GET, chat and keyed chat, until `stop()`."""

    def __init__(
        self,
        url: str,
        api_key: str | None,
        *,
        users: int = 6,
        pause: float = 0.05,
        kinds: tuple[str, ...] = KINDS,
        timeout: float = 60.0,
        unique_questions: bool = True,
    ) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.users = users
        self.pause = pause
        self.kinds = kinds
        self.timeout = timeout
        self.unique = unique_questions
        self.report = LoadReport()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._numbers = itertools.count(1)
        self._started = threading.Event()

    def start(self) -> SteadyLoad:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()
        self._started.wait(10)
        return self

    def stop(self) -> LoadReport:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout + 10)
        return self.report

    def _body(self) -> dict[str, Any]:
        n = next(self._numbers)
        question = QUESTIONS[n % len(QUESTIONS)]
        return {"question": f"{question} (request {n})" if self.unique else question}

    async def _one(self, client: httpx.AsyncClient, kind: str) -> Outcome:
        headers = dict(self.headers)
        if kind == "get":
            method, path, body = "GET", "/v1/collections", None
        else:
            method, path, body = "POST", "/v1/chat", self._body()
            if kind == "chat-keyed":
                headers["Idempotency-Key"] = uuid.uuid4().hex
        started = time.monotonic()
        try:
            response = await client.request(method, path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            return Outcome(kind, started, time.monotonic(), None, error=type(exc).__name__)
        return Outcome(
            kind,
            started,
            time.monotonic(),
            response.status_code,
            response.headers.get("x-upstream"),
        )

    async def _user(self, client: httpx.AsyncClient, offset: int) -> None:
        turn = offset % len(self.kinds)
        kinds = itertools.cycle(self.kinds[turn:] + self.kinds[:turn])
        while not self._stop.is_set():
            self.report.outcomes.append(await self._one(client, next(kinds)))
            if self.pause:
                await asyncio.sleep(self.pause)

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=self.users, max_keepalive_connections=self.users)
        async with httpx.AsyncClient(
            base_url=self.url, timeout=self.timeout, limits=limits
        ) as client:
            self._started.set()
            await asyncio.gather(*(self._user(client, i) for i in range(self.users)))
