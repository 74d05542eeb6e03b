"""`OpenAICompatibleLLM`: the `LLM` interface over any OpenAI-compatible chat-completions API.

Uses the official `openai.AsyncOpenAI` client, so it talks to OpenAI itself, vLLM, Ollama or a
llama.cpp server alike. Every failure surfaces as `LLMError` whose message names the endpoint
host and the kind of failure, never the API key. Connection errors and 5xx answers get one
quick retry with jitter (tenacity; the client's own retries are off), and only before the
first token: a stream that broke midway is never replayed. `stream()` returns an
`LLMStream`, which yields text deltas and afterwards tells the tokens used and the time to
the first token.

Three deadlines bound a call: `connect_timeout` (opening the connection), `first_token_timeout`
(request sent to the first token of a stream) and `total_timeout` (the whole answer, streamed
or not); `timeout` bounds each read. A stream that trickles tokens forever therefore still ends
at `total_timeout` with an `LLMError` ("timed out").
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

import httpx
import openai
from openai import AsyncOpenAI, AsyncStream
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionAssistantMessageParam,
    ChatCompletionChunk,
    ChatCompletionMessageParam,
    ChatCompletionSystemMessageParam,
    ChatCompletionUserMessageParam,
)
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_fixed,
    wait_random,
)

from ragops.providers.llm.base import ChatMessage, Completion, LLMError

if TYPE_CHECKING:
    from ragops.config.settings import LLMEndpoint, Settings

PLACEHOLDER_API_KEY = "not-needed"
"""Sent when no key is configured: local servers ignore it, the client insists on one."""

RETRY_WAIT_SECONDS = 0.25
PING_TIMEOUT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 5.0
_DETAIL_CHARS = 200

_ERRORS: tuple[type[BaseException], ...] = (
    openai.OpenAIError,
    httpx.HTTPError,
    TimeoutError,
    ValueError,
)
"""What a call can raise: client and transport errors, deadlines, malformed answers."""

_MALFORMED = (AttributeError, TypeError, IndexError, KeyError)
"""What reading an answer that lacks the expected fields raises; turned into ValueError."""

_KEY_LIKE = re.compile(r"(?i)\bbearer\s+\S+|\b(?:sk|pk|rk)-[\w\-*.]{4,}")

T = TypeVar("T")


def _retryable(exc: BaseException) -> bool:
    """Connection refused/reset and 5xx are worth one more try; a timeout is not."""
    if isinstance(exc, openai.APITimeoutError):
        return False
    return isinstance(exc, openai.APIConnectionError | openai.InternalServerError)


def _scrub(text: str, secret: str) -> str:
    """Remove the API key and anything shaped like a credential from `text`."""
    if len(secret) >= 4:
        text = text.replace(secret, "[redacted]")
    text = _KEY_LIKE.sub("[redacted]", text)
    text = " ".join(text.split())
    return text[:_DETAIL_CHARS]


def _error_detail(exc: openai.APIStatusError) -> str:
    """The provider's own error message, if its body carries one."""
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            message = inner.get("message") or inner.get("detail")
            return message if isinstance(message, str) else ""
        if isinstance(inner, str):
            return inner
    return body if isinstance(body, str) else ""


def describe_error(exc: BaseException, *, host: str, secret: str) -> str:
    """A log-safe sentence about a failed call: host, kind, status; never the key."""
    if isinstance(exc, openai.APITimeoutError | TimeoutError | httpx.TimeoutException):
        return f"LLM endpoint {host} timed out"
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError):
        return f"LLM endpoint {host} could not be reached or dropped the connection"
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return f"LLM endpoint {host} refused the API key (HTTP {exc.status_code})"
    if isinstance(exc, openai.APIStatusError):
        detail = _scrub(_error_detail(exc), secret)
        suffix = f": {detail}" if detail else ""
        return f"LLM endpoint {host} answered HTTP {exc.status_code}{suffix}"
    if isinstance(exc, openai.APIError):
        return f"LLM endpoint {host} reported an error: {_scrub(exc.message, secret)}"
    return f"LLM endpoint {host} sent a malformed answer ({type(exc).__name__})"


def _endpoint_host(base_url: str) -> str:
    """Host and port of the endpoint, without any credentials in the URL."""
    parts = urlsplit(base_url)
    host = parts.hostname or "unknown-host"
    return f"{host}:{parts.port}" if parts.port else host


def _to_params(messages: Sequence[ChatMessage]) -> list[ChatCompletionMessageParam]:
    params: list[ChatCompletionMessageParam] = []
    for message in messages:
        if message.role == "system":
            params.append(ChatCompletionSystemMessageParam(role="system", content=message.content))
        elif message.role == "user":
            params.append(ChatCompletionUserMessageParam(role="user", content=message.content))
        else:
            params.append(
                ChatCompletionAssistantMessageParam(role="assistant", content=message.content)
            )
    return params


class LLMStream(AsyncIterator[str]):
    """One streamed answer: iterate it for text deltas, then read what it cost.

    The request is sent on the first `__anext__`. Filled in as the stream goes:
    `first_token_seconds` (request sent to first non-empty delta), `total_seconds`,
    `finish_reason`, and `prompt_tokens`/`completion_tokens` from the usage chunk (0 when the
    endpoint reports none). Raises `LLMError`, possibly after some deltas. Call `aclose()` when
    abandoning the stream early, so the HTTP response is released.
    """

    def __init__(
        self,
        open_stream: Callable[[], Awaitable[AsyncStream[ChatCompletionChunk]]],
        to_error: Callable[[BaseException], LLMError],
        *,
        first_token_timeout: float = math.inf,
        total_timeout: float = math.inf,
    ) -> None:
        self._open = open_stream
        self._to_error = to_error
        self._first_token_timeout = first_token_timeout
        self._total_timeout = total_timeout
        self._parts: list[str] = []
        self._iterator = self._run()
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.finish_reason: str | None = None
        self.first_token_seconds: float | None = None
        self.total_seconds: float | None = None
        self.usage_reported = False

    def __aiter__(self) -> LLMStream:
        return self

    async def __anext__(self) -> str:
        return await self._iterator.__anext__()

    async def aclose(self) -> None:
        """Stop early and release the HTTP response."""
        await self._iterator.aclose()

    @property
    def text(self) -> str:
        """The answer received so far."""
        return "".join(self._parts)

    @property
    def completion(self) -> Completion:
        """The answer received so far, with its token counts."""
        return Completion(self.text, self.prompt_tokens, self.completion_tokens)

    def _remaining(self, started: float) -> float:
        """Seconds left before the next deadline (first token, else the whole answer)."""
        elapsed = time.perf_counter() - started
        left = self._total_timeout - elapsed
        if self.first_token_seconds is None:
            left = min(left, self._first_token_timeout - elapsed)
        if left <= 0:
            raise TimeoutError("LLM stream deadline passed")
        return left

    async def _run(self) -> AsyncGenerator[str, None]:
        started = time.perf_counter()
        try:
            try:
                async with asyncio.timeout(self._remaining(started)):
                    chunks = await self._open()
            except _ERRORS as exc:
                raise self._to_error(exc) from None
            try:
                # Each read gets its own deadline: a timeout scope must never span a `yield`,
                # or it would cancel whatever the consumer is doing at that moment.
                iterator = chunks.__aiter__()
                while True:
                    try:
                        async with asyncio.timeout(self._remaining(started)):
                            chunk = await iterator.__anext__()
                    except StopAsyncIteration:
                        break
                    for delta in self._take(chunk, started):
                        yield delta
            except _ERRORS as exc:
                raise self._to_error(exc) from None
            finally:
                with contextlib.suppress(*_ERRORS):
                    await chunks.close()
        finally:
            self.total_seconds = time.perf_counter() - started

    def _take(self, chunk: ChatCompletionChunk, started: float) -> list[str]:
        try:
            return self._read_chunk(chunk, started)
        except _MALFORMED as exc:
            raise ValueError(f"malformed chunk: {type(exc).__name__}") from None

    def _read_chunk(self, chunk: ChatCompletionChunk, started: float) -> list[str]:
        if chunk.usage is not None:
            self.usage_reported = True
            self.prompt_tokens = chunk.usage.prompt_tokens or 0
            self.completion_tokens = chunk.usage.completion_tokens or 0
        deltas: list[str] = []
        for choice in chunk.choices or []:
            if choice.index != 0:
                continue
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason
            content = choice.delta.content if choice.delta is not None else None
            if content:
                if self.first_token_seconds is None:
                    self.first_token_seconds = time.perf_counter() - started
                self._parts.append(content)
                deltas.append(content)
        return deltas


class OpenAICompatibleLLM:
    """A chat model behind an OpenAI-compatible `/v1` endpoint."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 30.0,
        max_tokens: int = 512,
        temperature: float = 0.1,
        stream_usage: bool = True,
        retry_wait: float = RETRY_WAIT_SECONDS,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        first_token_timeout: float | None = None,
        total_timeout: float | None = None,
    ) -> None:
        self._model = model
        self._key = api_key or PLACEHOLDER_API_KEY
        self._host = _endpoint_host(base_url)
        self._timeout = timeout
        self._first_token_timeout = first_token_timeout or timeout
        self._total_timeout = total_timeout or max(timeout, 60.0)
        self._max_tokens = max_tokens
        self._temperature = temperature
        self._stream_usage = stream_usage
        self._retry_wait = retry_wait
        self._client = AsyncOpenAI(
            base_url=base_url,
            api_key=self._key,
            timeout=openai.Timeout(timeout, connect=min(timeout, connect_timeout)),
            max_retries=0,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAICompatibleLLM:
        """Build from the `llm_*` settings; `llm_base_url` must be set."""
        if not settings.llm_base_url:
            raise ValueError("llm_base_url is not set")
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        return cls(
            base_url=settings.llm_base_url,
            model=settings.llm_model,
            api_key=key,
            timeout=settings.llm_timeout_seconds,
            max_tokens=settings.llm_max_tokens,
            temperature=settings.llm_temperature,
            first_token_timeout=settings.llm_first_token_timeout_seconds,
            total_timeout=settings.llm_total_timeout_seconds,
            connect_timeout=settings.llm_connect_timeout_seconds,
        )

    @classmethod
    def from_endpoint(cls, endpoint: LLMEndpoint, settings: Settings) -> OpenAICompatibleLLM:
        """Build one provider of the failover chain (`llm_fallbacks`)."""
        key = endpoint.api_key.get_secret_value() if endpoint.api_key else None
        return cls(
            base_url=endpoint.base_url,
            model=endpoint.model,
            api_key=key,
            timeout=endpoint.timeout_seconds,
            max_tokens=settings.llm_max_tokens,
            temperature=settings.llm_temperature,
            first_token_timeout=endpoint.first_token_timeout_seconds,
            total_timeout=endpoint.total_timeout_seconds,
            connect_timeout=endpoint.connect_timeout_seconds,
        )

    def __repr__(self) -> str:
        return f"OpenAICompatibleLLM(host={self._host!r}, model={self._model!r})"

    @property
    def provider(self) -> str:
        """Short provider name for metrics and logs."""
        return "openai"

    @property
    def model(self) -> str:
        """Model name sent to the provider."""
        return self._model

    @property
    def host(self) -> str:
        """Host (and port) of the endpoint, safe to log."""
        return self._host

    async def complete(self, messages: Sequence[ChatMessage]) -> Completion:
        """Answer in one piece, within `total_timeout` seconds in all. Raises LLMError."""
        params = _to_params(messages)
        try:
            async with asyncio.timeout(self._total_timeout):
                response = await self._retrying(lambda: self._create(params))
            return self._completion(response)
        except _ERRORS as exc:
            raise self._error(exc) from None

    def stream(self, messages: Sequence[ChatMessage]) -> LLMStream:
        """Answer as text deltas; the returned `LLMStream` reports usage once drained."""
        params = _to_params(messages)
        return LLMStream(
            lambda: self._retrying(lambda: self._open_stream(params)),
            self._error,
            first_token_timeout=self._first_token_timeout,
            total_timeout=self._total_timeout,
        )

    async def ping(self) -> None:
        """GET /models; raise LLMError if the endpoint cannot be reached or refuses us."""
        try:
            client = self._client.with_options(timeout=min(self._timeout, PING_TIMEOUT_SECONDS))
            await client.models.list()
        except _ERRORS as exc:
            raise self._error(exc) from None

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.close()

    def _error(self, exc: BaseException) -> LLMError:
        return LLMError(describe_error(exc, host=self._host, secret=self._key))

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(2),
            wait=wait_fixed(self._retry_wait) + wait_random(0, self._retry_wait),
            retry=retry_if_exception(_retryable),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await call()
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _create(self, params: list[ChatCompletionMessageParam]) -> ChatCompletion:
        return await self._client.chat.completions.create(
            model=self._model,
            messages=params,
            max_tokens=self._max_tokens,
            temperature=self._temperature,
        )

    async def _open_stream(
        self, params: list[ChatCompletionMessageParam]
    ) -> AsyncStream[ChatCompletionChunk]:
        if self._stream_usage:
            try:
                return await self._client.chat.completions.create(
                    model=self._model,
                    messages=params,
                    max_tokens=self._max_tokens,
                    temperature=self._temperature,
                    stream=True,
                    stream_options={"include_usage": True},
                )
            except openai.BadRequestError as exc:
                if "stream_options" not in f"{exc.message} {exc.body}":
                    raise
                self._stream_usage = False  # an older server: stream without usage from now on
        return await self._client.chat.completions.create(
            model=self._model,
            messages=params,
            max_tokens=self._max_tokens,
            temperature=self._temperature,
            stream=True,
        )

    @staticmethod
    def _completion(response: ChatCompletion) -> Completion:
        try:
            if not response.choices:
                raise ValueError("the answer has no choices")
            text = response.choices[0].message.content or ""
            usage = response.usage
            prompt_tokens = (usage.prompt_tokens or 0) if usage is not None else 0
            completion_tokens = (usage.completion_tokens or 0) if usage is not None else 0
        except _MALFORMED as exc:
            raise ValueError(f"malformed answer: {type(exc).__name__}") from None
        return Completion(text, int(prompt_tokens), int(completion_tokens))
