"""Generation: turn retrieved passages into a cited answer, with the LLM when one is
configured and the extractive answerer otherwise (or when the LLM fails).

`Generator.generate` answers in one piece; `Generator.stream` yields `("token", text)` deltas,
possibly `("reset", reason)` when the LLM failed mid-answer and the extractive fallback
follows, and always ends with `("final", Generated)`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from ragops.chat.citations import parse_citations
from ragops.chat.extractive import ExtractiveAnswerer, stream_words
from ragops.chat.prompts import build_messages, build_retrieval_query
from ragops.config import Settings
from ragops.errors import ServiceUnavailable
from ragops.providers.embedder import Embedder
from ragops.providers.llm import LLM, ChatMessage, LLMError
from ragops.retrieval.service import Passage

StreamItem = tuple[str, "str | Generated"]


@dataclass(slots=True)
class Generated:
    """An answer, the 1-based passage numbers it cites and how it was produced."""

    text: str
    cited: list[int]
    mode: str
    generate_ms: float
    fallback_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    time_to_first_token: float | None = field(default=None)


class Generator:
    """Chooses the LLM or the extractive answerer for each answer."""

    def __init__(self, *, settings: Settings, llm: LLM | None, embedder: Embedder) -> None:
        self.settings = settings
        self.llm = llm
        self.embedder = embedder
        self.extractive = ExtractiveAnswerer()

    def retrieval_query(self, question: str, history: Sequence[ChatMessage]) -> str:
        """A standalone retrieval query for a (possibly follow-up) question."""
        return build_retrieval_query(question, history)

    def _messages(
        self, question: str, history: Sequence[ChatMessage], passages: Sequence[Passage]
    ) -> list[ChatMessage]:
        return build_messages(
            question,
            passages,
            history,
            history_turns=self.settings.history_turns,
            max_question_chars=self.settings.max_question_chars,
        )

    async def _extractive(
        self,
        question: str,
        passages: Sequence[Passage],
        started: float,
        fallback_reason: str | None = None,
    ) -> Generated:
        query_vector = await self.embedder.embed_query(question) if passages else None
        result = await self.extractive.answer(
            question,
            passages,
            embed=self.embedder.embed_documents,
            query_vector=query_vector,
        )
        return Generated(
            text=result.text,
            cited=list(result.cited),
            mode="extractive",
            generate_ms=(time.perf_counter() - started) * 1000,
            fallback_reason=fallback_reason,
        )

    def _checked(self, text: str, passages: Sequence[Passage]) -> tuple[str, list[int]]:
        check = parse_citations(text, len(passages))
        clean = check.strip_invalid(text) if check.invalid else text
        return clean, list(check.cited)

    async def generate(
        self, question: str, history: Sequence[ChatMessage], passages: Sequence[Passage]
    ) -> Generated:
        """Answer in one piece; an LLM failure falls back to an extractive answer."""
        started = time.perf_counter()
        if self.llm is None or not passages:
            return await self._extractive(question, passages, started)
        try:
            completion = await self.llm.complete(self._messages(question, history, passages))
        except LLMError as exc:
            return await self._extractive(
                question, passages, started, fallback_reason=f"llm_unavailable: {exc}"
            )
        text, cited = self._checked(completion.text, passages)
        return Generated(
            text=text,
            cited=cited,
            mode="generated",
            generate_ms=(time.perf_counter() - started) * 1000,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
        )

    async def stream(
        self,
        question: str,
        history: Sequence[ChatMessage],
        passages: Sequence[Passage],
        *,
        allow_reset: bool = True,
    ) -> AsyncIterator[StreamItem]:
        """Answer as deltas. With `allow_reset=False` (protocols that cannot take tokens
        back), an LLM failure after the first token raises ServiceUnavailable instead."""
        started = time.perf_counter()
        if self.llm is None or not passages:
            generated = await self._extractive(question, passages, started)
            async for delta in stream_words(generated.text):
                yield "token", delta
            yield "final", generated
            return
        parts: list[str] = []
        stream = self.llm.stream(self._messages(question, history, passages))
        try:
            async for delta in stream:
                parts.append(delta)
                yield "token", delta
        except LLMError as exc:
            if parts and not allow_reset:
                raise ServiceUnavailable(f"the language model failed mid-answer: {exc}") from exc
            if parts:
                yield "reset", "llm_failed"
            generated = await self._extractive(
                question, passages, started, fallback_reason=f"llm_unavailable: {exc}"
            )
            async for delta in stream_words(generated.text):
                yield "token", delta
            yield "final", generated
            return
        clean, cited = self._checked("".join(parts), passages)
        yield (
            "final",
            Generated(
                text=clean,
                cited=cited,
                mode="generated",
                generate_ms=(time.perf_counter() - started) * 1000,
                prompt_tokens=int(getattr(stream, "prompt_tokens", 0)),
                completion_tokens=int(getattr(stream, "completion_tokens", 0)),
                time_to_first_token=getattr(stream, "first_token_seconds", None),
            ),
        )
