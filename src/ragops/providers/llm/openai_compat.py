"""`OpenAICompatibleLLM`: the `LLM` interface over any OpenAI-compatible chat-completions API.

Uses the official `openai.AsyncOpenAI` client, so it talks to OpenAI itself, vLLM, Ollama or a
llama.cpp server alike. Every failure surfaces as `LLMError` whose message names the endpoint
host and the kind of failure, never the API key. Connection errors and 5xx answers get one
quick retry with jitter (tenacity; the client's own retries are off), and only before the
first token: a stream that broke midway is never replayed. `stream()` returns an
`LLMStream` (`openai_stream.py`), which yields text deltas and afterwards tells the tokens
used and the time to the first token. What counts as a failure, which failures are retried
and how each is described: `openai_errors.py`.

Three deadlines bound a call: `connect_timeout` (opening the connection), `first_token_timeout`
(request sent to the first token of a stream) and `total_timeout` (the whole answer, streamed
or not); `timeout` bounds each read. A stream that trickles tokens forever therefore still ends
at `total_timeout` with an `LLMError` ("timed out").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import openai
from openai import AsyncOpenAI, AsyncStream
from openai._types import RequestOptions
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
from ragops.providers.llm.openai_errors import (
    CALL_ERRORS,
    MALFORMED,
    describe_error,
    endpoint_host,
    retryable,
)
from ragops.providers.llm.openai_stream import LLMStream

if TYPE_CHECKING:
    from ragops.config.settings import LLMEndpoint, Settings

__all__ = ["PLACEHOLDER_API_KEY", "LLMStream", "OpenAICompatibleLLM", "describe_error"]

PLACEHOLDER_API_KEY = "not-needed"
"""Sent when no key is configured: local servers ignore it, the client insists on one."""

RETRY_WAIT_SECONDS = 0.25
PING_TIMEOUT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 5.0
T = TypeVar("T")
SEND_KEY: RequestOptions = {"security": {"bearer_auth": True}}
"""Request options that send the API key (what `chat.completions.create` passes)."""


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
        self._host = endpoint_host(base_url)
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
        except CALL_ERRORS as exc:
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
        except CALL_ERRORS as exc:
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
            retry=retry_if_exception(retryable),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await call()
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def _body(self, params: list[ChatCompletionMessageParam], **extra: object) -> dict[str, object]:
        return {
            "model": self._model,
            "messages": params,
            "max_tokens": self._max_tokens,
            "temperature": self._temperature,
            **extra,
        }

    # The requests go through the client's `post` with the JSON body as it is sent, not
    # through `chat.completions.create`, whose generic transform walks the request's typed
    # parameters on every call (about a third of the client's CPU for a call): these bodies
    # are plain strings and numbers that it would leave unchanged.

    async def _create(self, params: list[ChatCompletionMessageParam]) -> ChatCompletion:
        return await self._client.post(
            "/chat/completions", body=self._body(params), options=SEND_KEY, cast_to=ChatCompletion
        )

    async def _open_stream(
        self, params: list[ChatCompletionMessageParam]
    ) -> AsyncStream[ChatCompletionChunk]:
        if self._stream_usage:
            try:
                return await self._post_stream(
                    self._body(params, stream=True, stream_options={"include_usage": True})
                )
            except openai.BadRequestError as exc:
                if "stream_options" not in f"{exc.message} {exc.body}":
                    raise
                self._stream_usage = False  # an older server: stream without usage from now on
        return await self._post_stream(self._body(params, stream=True))

    async def _post_stream(self, body: dict[str, object]) -> AsyncStream[ChatCompletionChunk]:
        return await self._client.post(
            "/chat/completions",
            body=body,
            options=SEND_KEY,
            cast_to=ChatCompletion,
            stream=True,
            stream_cls=AsyncStream[ChatCompletionChunk],
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
        except MALFORMED as exc:
            raise ValueError(f"malformed answer: {type(exc).__name__}") from None
        return Completion(text, int(prompt_tokens), int(completion_tokens))
