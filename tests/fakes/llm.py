"""A fake OpenAI-compatible server: a real ASGI app served by uvicorn on loopback.

Serves `GET /v1/models`, `POST /v1/chat/completions` (JSON, or SSE chunks exactly as OpenAI
streams them) and `POST /v1/embeddings` (deterministic pseudo-embeddings from a hash of each
text). Its answering policy is deterministic: it reads the numbered `<passage id="N">` blocks
of the last user message and answers with the first sentence of passage 1 followed by
" [1]" (or "I don't know." when there is none), unless a test set a canned answer. It records
every request, can demand an API key, and can be told to fail the next requests (an HTTP
status, a slow answer, a connection dropped mid-answer).

    with serve_fake_llm() as fake:
        llm = OpenAICompatibleLLM(base_url=fake.base_url, model="fake-model")
        fake.fail_next(500)
        ...
        assert "passage" in fake.chat_requests[-1]["messages"][-1]["content"]
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import socket
import struct
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

Failure = int | Literal["slow", "drop", "trickle"]
"""An HTTP status to answer with, "slow" (answer after a delay), "drop" (cut the
connection after the first piece of the answer) or "trickle" (stream one piece every
`delay` seconds, endlessly)."""

DEFAULT_MODEL = "fake-model"
_PASSAGE = re.compile(r'<passage\b[^>]*\bid="(\d+)"[^>]*>\s*(.*?)\s*</passage>', re.DOTALL)
_NUMBERED_LINE = re.compile(r"^\s*\[(\d+)\]\s*(.+)$", re.MULTILINE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class DroppedConnection(Exception):
    """Raised inside a response body so that uvicorn cuts the connection."""


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


def first_sentence_answer(messages: list[dict[str, Any]]) -> str:
    """The fake's policy: first sentence of passage [1] of the last user message, cited."""
    prompt = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    content = prompt.get("content", "") if prompt else ""
    if not isinstance(content, str):
        content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    passages = {int(n): t for n, t in _PASSAGE.findall(content)}
    passages = passages or {int(n): t for n, t in _NUMBERED_LINE.findall(content)}
    first = passages.get(1, "").strip()
    if not first:
        return "I don't know."
    return _SENTENCE_END.split(" ".join(first.split()), maxsplit=1)[0] + " [1]"


def fake_embedding(text: str, dimension: int) -> list[float]:
    """A deterministic unit vector derived from a hash of `text`."""
    values: list[float] = []
    counter = 0
    while len(values) < dimension:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend((b / 127.5) - 1.0 for b in digest)
        counter += 1
    vector = values[:dimension]
    norm = sum(v * v for v in vector) ** 0.5 or 1.0
    return [v / norm for v in vector]


def _tokens(text: str) -> int:
    return len(text.split())


@dataclass
class FakeLLMState:
    """What the fake has seen and what it was told to do; shared with the server thread."""

    model: str = DEFAULT_MODEL
    embedding_dimension: int = 32
    api_key: str | None = None
    answer: str | None = None
    slow_seconds: float = 5.0
    delay_seconds: float = 0.0  # every chat answer waits this long (a steady latency)
    accepts_stream_options: bool = True
    requests: list[RecordedRequest] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    generation: int = 0
    stopping: bool = False
    # Serve these vectors instead of the hash-based ones (a real model, say); any size.
    embed: Callable[[list[str]], Awaitable[list[list[float]]]] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_failure(self) -> Failure | None:
        with self.lock:
            return self.failures.pop(0) if self.failures else None


def _error(status: int, message: str, code: str) -> JSONResponse:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": code}}
    return JSONResponse(body, status_code=status)


def _envelope(kind: str, model: str, created: int, **fields: Any) -> dict[str, Any]:
    head = {"id": "chatcmpl-fake", "object": kind, "created": created, "model": model}
    return {**head, "system_fingerprint": "fp_fake", **fields}


def _dropped(first: str) -> StreamingResponse:
    """An answer cut after its first bytes: uvicorn closes the connection mid-body."""

    async def body() -> AsyncIterator[str]:
        yield first
        await asyncio.sleep(0.05)
        raise DroppedConnection("the fake drops the connection")

    return StreamingResponse(body(), media_type="application/json")


def _trickle(model: str, every: float) -> Response:
    """A stream that never ends: one word every `every` seconds (each read is quick)."""
    created = int(time.time())

    async def events() -> AsyncIterator[str]:
        while True:
            choice = {"index": 0, "delta": {"content": " more"}, "finish_reason": None}
            chunk = _envelope("chat.completion.chunk", model, created, choices=[choice])
            yield f"data: {json.dumps(chunk)}\n\n"
            await asyncio.sleep(every)

    return StreamingResponse(events(), media_type="text/event-stream")


def _stream(text: str, model: str, usage: dict[str, int] | None, *, drop: bool) -> Response:
    """The answer as OpenAI streams it: a role chunk, content chunks, a "stop" chunk, under
    `include_usage` a usage chunk with no choices (and `"usage": null` before), `[DONE]`."""
    created = int(time.time())
    extra = {"usage": None} if usage is not None else {}

    def event(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        chunk = _envelope("chat.completion.chunk", model, created, choices=[choice], **extra)
        return f"data: {json.dumps(chunk)}\n\n"

    async def events() -> AsyncIterator[str]:
        yield event({"role": "assistant", "content": "", "refusal": None})
        for piece in re.findall(r"\s*\S+|\s+$", text):
            yield event({"content": piece})
            if drop:
                await asyncio.sleep(0.05)
                raise DroppedConnection("the fake drops the connection mid-stream")
        yield event({}, "stop")
        if usage is not None:
            last = _envelope("chat.completion.chunk", model, created, choices=[], usage=usage)
            yield f"data: {json.dumps(last)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


def build_app(state: FakeLLMState) -> Starlette:
    """The ASGI app of the fake, answering from (and recording into) `state`."""

    async def wait(seconds: float) -> None:
        generation, deadline = state.generation, time.monotonic() + seconds
        while time.monotonic() < deadline and not state.stopping:
            if state.generation != generation:
                return
            await asyncio.sleep(0.02)

    async def prologue(request: Request) -> tuple[dict[str, Any], Response | None, bool]:
        """Record the request, apply a pending failure. Returns the JSON body, the response
        when the request must fail now, and whether a stream must be cut after one chunk."""
        raw = await request.body()
        try:
            body: Any = json.loads(raw) if raw else {}
        except ValueError:
            body = {"unparsed": raw.decode(errors="replace")}
        recorded = RecordedRequest(request.method, request.url.path, dict(request.headers), body)
        with state.lock:
            state.requests.append(recorded)
        failure = state.take_failure()
        body = body if isinstance(body, dict) else {"unparsed": body}
        if failure == "trickle" and body.get("stream"):
            return body, _trickle(str(body.get("model", state.model)), state.slow_seconds), False
        if failure == "slow":
            await wait(state.slow_seconds)
        elif isinstance(failure, int):
            return body, _error(failure, f"fake failure {failure}", "fake_failure"), False
        if state.api_key is not None:
            sent = request.headers.get("authorization", "").removeprefix("Bearer ")
            if sent != state.api_key:  # echoes the key it got, as some servers do
                return body, _error(401, f"Incorrect API key provided: {sent}", "bad_key"), False
        if failure == "drop" and not body.get("stream"):
            return body, _dropped('{"object": "list", "data": ['), False
        return body, None, failure == "drop"

    async def models(request: Request) -> Response:
        _, failed, _ = await prologue(request)
        card = {"id": state.model, "object": "model", "created": 0, "owned_by": "ragops-tests"}
        return failed or JSONResponse({"object": "list", "data": [card]})

    async def chat(request: Request) -> Response:
        body, failed, drop = await prologue(request)
        if failed is not None:
            return failed
        if state.delay_seconds:
            await asyncio.sleep(state.delay_seconds)
        if body.get("stream_options") is not None and not state.accepts_stream_options:
            return _error(400, "Unrecognized request argument: stream_options", "bad_arg")
        messages = body.get("messages", [])
        text = state.answer if state.answer is not None else first_sentence_answer(messages)
        model = str(body.get("model", state.model))
        asked = sum(_tokens(str(m.get("content", ""))) for m in messages)
        usage = {
            "prompt_tokens": asked,
            "completion_tokens": _tokens(text),
            "total_tokens": asked + _tokens(text),
        }
        if body.get("stream"):
            with_usage = (body.get("stream_options") or {}).get("include_usage")
            return _stream(text, model, usage if with_usage else None, drop=drop)
        message = {"role": "assistant", "content": text, "refusal": None}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
        answer = _envelope("chat.completion", model, int(time.time()), choices=[choice])
        return JSONResponse({**answer, "usage": usage})

    async def embeddings(request: Request) -> Response:
        body, failed, _ = await prologue(request)
        if failed is not None:
            return failed
        raw = body.get("input", [])
        texts = [raw] if isinstance(raw, str) else [str(t) for t in raw]
        dimension = int(body.get("dimensions") or state.embedding_dimension)
        vectors = await state.embed(texts) if state.embed is not None else None
        data = []
        for index, text in enumerate(texts):
            vector: Any = vectors[index] if vectors else fake_embedding(text, dimension)
            dimension = len(vector)
            if body.get("encoding_format") == "base64":  # the openai client's default
                vector = base64.b64encode(struct.pack(f"<{dimension}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        tokens = sum(_tokens(t) for t in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        model = body.get("model", state.model)
        return JSONResponse({"object": "list", "data": data, "model": model, "usage": usage})

    routes = [
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
    ]
    return Starlette(routes=routes)


def _not_a_dropped_connection(record: logging.LogRecord) -> bool:
    """Log filter: keep uvicorn quiet about the connections the fake drops on purpose."""
    return not (record.exc_info and isinstance(record.exc_info[1], DroppedConnection))


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class FakeLLMServer:
    """The fake served by uvicorn in a background thread on 127.0.0.1 and a free port."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        embedding_dimension: int = 32,
        model: str = DEFAULT_MODEL,
    ) -> None:
        self.state = FakeLLMState(
            model=model, embedding_dimension=embedding_dimension, api_key=api_key
        )
        self._defaults = (api_key, embedding_dimension, model)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- lifecycle ---

    def start(self) -> FakeLLMServer:
        """Serve in a background thread; return once the server accepts connections."""
        logging.getLogger("uvicorn.error").addFilter(_not_a_dropped_connection)
        sock = _free_socket()
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            build_app(self.state),
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self.state.stopping = False
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake LLM server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving (idempotent): afterwards the port refuses connections."""
        if self._server is None or self._thread is None:
            return
        self.state.stopping = True
        self._server.should_exit = True
        self._thread.join(timeout=10)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- what tests use ---

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL, "http://127.0.0.1:PORT/v1"."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received since the last reset, oldest first."""
        with self.state.lock:
            return list(self.state.requests)

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of the chat-completions requests received."""
        return [r.body for r in self.requests if r.path.endswith("/chat/completions")]

    def last_prompt(self) -> str:
        """Content of the last user message of the last chat request."""
        messages = self.chat_requests[-1]["messages"]
        return str(next(m for m in reversed(messages) if m["role"] == "user")["content"])

    def set_answer(self, text: str | None) -> None:
        """Answer every chat request with `text` from now on (None: back to the policy)."""
        self.state.answer = text

    def set_stream_options_supported(self, supported: bool) -> None:
        """Whether `stream_options` is accepted (False: HTTP 400, like older servers)."""
        self.state.accepts_stream_options = supported

    def set_api_key(self, key: str | None) -> None:
        """Demand `Authorization: Bearer <key>` from now on (None: accept anything)."""
        self.state.api_key = key

    def fail_next(self, failure: Failure = 500, n: int = 1, *, delay: float = 5.0) -> None:
        """Make the next `n` requests fail: an HTTP status, "slow" (answer after `delay`
        seconds) or "drop" (cut the connection after the first piece of the answer)."""
        with self.state.lock:
            self.state.failures.extend([failure] * n)
            self.state.slow_seconds = delay

    def reset(self) -> None:
        """Forget requests, failures and the canned answer; back to the start settings."""
        with self.state.lock:
            self.state.requests.clear()
            self.state.failures.clear()
            self.state.generation += 1  # wakes up requests still sleeping in "slow"
        self.state.answer = None
        self.state.accepts_stream_options = True
        self.state.api_key, self.state.embedding_dimension, self.state.model = self._defaults


@contextmanager
def serve_fake_llm(
    *, api_key: str | None = None, embedding_dimension: int = 32, model: str = DEFAULT_MODEL
) -> Iterator[FakeLLMServer]:
    """Run a fake OpenAI-compatible server for the duration of the block."""
    server = FakeLLMServer(
        api_key=api_key, embedding_dimension=embedding_dimension, model=model
    ).start()
    try:
        yield server
    finally:
        server.stop()
