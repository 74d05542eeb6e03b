"""`LLMStream`: one streamed answer of an OpenAI-compatible endpoint, as text deltas, and what it
cost (tokens, time to the first token, total time) once drained.

Two deadlines bound it: `first_token_timeout` (request sent to the first token) and
`total_timeout` (the whole answer). Each read gets its own deadline, so a stream that trickles
tokens forever still ends at `total_timeout` with an `LLMError` ("timed out").
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable

from openai import AsyncStream
from openai.types.chat import ChatCompletionChunk

from ragops.providers.llm.base import Completion, LLMError
from ragops.providers.llm.openai_errors import CALL_ERRORS, MALFORMED


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
            except CALL_ERRORS as exc:
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
            except CALL_ERRORS as exc:
                raise self._to_error(exc) from None
            finally:
                with contextlib.suppress(*CALL_ERRORS):
                    await chunks.close()
        finally:
            self.total_seconds = time.perf_counter() - started

    def _take(self, chunk: ChatCompletionChunk, started: float) -> list[str]:
        try:
            return self._read_chunk(chunk, started)
        except MALFORMED as exc:
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
