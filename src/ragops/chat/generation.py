"""Generation: turn retrieved passages into a cited answer, with the LLM when one is
configured and the extractive answerer otherwise (or when the LLM fails).

`Generator.generate` answers in one piece; `Generator.stream` yields `("token", text)` deltas,
possibly `("reset", reason)` when the LLM failed mid-answer and the extractive fallback
follows, and always ends with `("final", Generated)`.

Content safety (`security.injection`): retrieved passages that look like prompt injection are
marked in the prompt and logged with their document id; a generated answer that leaks an API
key, a configured secret or a span of the system prompt is replaced by the extractive answer
(`fallback_reason: "output_guard"`), and a streamed one is held back by the same check so the
leak is never sent. An answer from a fallback LLM provider of the failover chain is generated
but carries `fallback_reason: "llm_failover: ..."`; every answer with a fallback reason is
degraded (`ragops_degraded_responses_total{reason}`), and so is one whose question was
embedded by a fallback model (`embedding_fallback: ...`, noted during retrieval). Extractive
answers have key-shaped strings redacted.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import structlog

from ragops.chat.citations import StreamCitations, parse_citations, renumber_citations
from ragops.chat.extractive import ExtractiveAnswerer, stream_words
from ragops.chat.prompts import SYSTEM_PROMPT, build_messages, build_retrieval_query
from ragops.config import Settings
from ragops.errors import RagopsError, ServiceUnavailable
from ragops.observability import metrics
from ragops.observability.degradation import noted_degradations, record_degraded_response
from ragops.observability.tracing import span
from ragops.providers.embedder import Embedder
from ragops.providers.llm import LLM, ChatMessage, LLMError
from ragops.providers.llm.failover import FailoverLLM, provider_name
from ragops.retrieval.service import Passage
from ragops.security.injection import (
    AnswerGuard,
    GuardResult,
    InjectionReport,
    StreamGuard,
    scan_passage,
    secret_values,
)
from ragops.workers import run_blocking

StreamItem = tuple[str, "str | Generated"]
OUTPUT_GUARD = "output_guard"
SCAN_MEMO = 2048
"""Passage texts whose injection scan `Generator` remembers (then it forgets them all)."""

log = structlog.get_logger(__name__)


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
    provider: str | None = None
    """host/model of the LLM provider whose call answered (None: no call answered)."""
    renumbered: bool = False
    """The answer's markers run 1..n in the order of `cited` (extractive answers), rather
    than naming passage numbers."""


class Generator:
    """Chooses the LLM or the extractive answerer for each answer."""

    def __init__(self, *, settings: Settings, llm: LLM | None, embedder: Embedder) -> None:
        self.settings = settings
        self.llm = llm
        self.embedder = embedder
        self.extractive = ExtractiveAnswerer()
        self.guard = AnswerGuard(SYSTEM_PROMPT, secrets=secret_values(settings))
        self._reports: dict[str, InjectionReport] = {}
        """Injection scans of passage texts (`_report`), at most SCAN_MEMO."""

    def retrieval_query(self, question: str, history: Sequence[ChatMessage]) -> str:
        """A standalone retrieval query for a (possibly follow-up) question."""
        return build_retrieval_query(question, history)

    async def _messages(
        self, question: str, history: Sequence[ChatMessage], passages: Sequence[Passage]
    ) -> list[ChatMessage]:
        if all(p.text in self._reports for p in passages):  # nothing to scan: no thread hop
            flags = self._passage_flags(passages)
        else:
            flags = await run_blocking("cpu", self._passage_flags, passages)
        return build_messages(
            question,
            passages,
            history,
            history_turns=self.settings.history_turns,
            max_question_chars=self.settings.max_question_chars,
            passage_flags=flags,
        )

    def _passage_flags(self, passages: Sequence[Passage]) -> list[bool]:
        """Which passages look like prompt injection (each is logged with its document)."""
        flags = []
        for passage in passages:
            report = self._report(passage.text)
            if report.flagged:
                log.info(
                    "prompt_injection_passage_marked",
                    document_id=passage.document_id,
                    chunk_id=passage.chunk_id,
                    score=report.score,
                    rules=report.rules,
                )
            flags.append(report.flagged)
        return flags

    def _report(self, text: str) -> InjectionReport:
        """`scan_passage(text)`, remembered: the same passages come back question after
        question, and a scan costs about 0.2-0.5 ms of CPU a passage."""
        report = self._reports.get(text)
        if report is None:
            report = scan_passage(text)
            if len(self._reports) >= SCAN_MEMO:  # a crude bound, safe across threads
                self._reports.clear()
            self._reports[text] = report
        return report

    def _guard_tripped(self, result: GuardResult) -> None:
        log.warning("output_guard_tripped", reasons=list(result.reasons))

    async def _extractive(
        self,
        question: str,
        passages: Sequence[Passage],
        started: float,
        fallback_reason: str | None = None,
    ) -> Generated:
        result = self.extractive.answer_now(question, passages)
        return Generated(
            text=self.guard.redact(renumber_citations(result.text, result.cited)),
            cited=list(result.cited),
            mode="extractive",
            generate_ms=(time.perf_counter() - started) * 1000,
            fallback_reason=fallback_reason,
            renumbered=True,
        )

    def _checked(self, text: str, passages: Sequence[Passage]) -> tuple[str, list[int]]:
        check = parse_citations(text, len(passages))
        clean = check.strip_invalid(text) if check.invalid else text
        return clean, list(check.cited)

    async def generate(
        self, question: str, history: Sequence[ChatMessage], passages: Sequence[Passage]
    ) -> Generated:
        """Answer in one piece; an LLM failure falls back to an extractive answer."""
        with span("generate", passages=len(passages)):
            generated = await self._generate(question, history, passages)
        self._record(generated, passages)
        return generated

    async def stream(
        self,
        question: str,
        history: Sequence[ChatMessage],
        passages: Sequence[Passage],
        *,
        allow_reset: bool = True,
    ) -> AsyncIterator[StreamItem]:
        """Answer as deltas. With `allow_reset=False` (protocols that cannot take tokens
        back), an LLM failure after the first token was sent raises ServiceUnavailable, and
        an output-guard trip after it a RagopsError `output_guard`, instead of a reset."""
        async for kind, value in self._stream(question, history, passages, allow_reset=allow_reset):
            if kind == "final" and isinstance(value, Generated):
                self._record(value, passages)
            yield kind, value

    def _record(self, generated: Generated, passages: Sequence[Passage]) -> None:
        """Metrics of one answer: generate stage, answer mode and, if asked, the LLM call.

        Fallbacks an earlier step of the request used (an embedding fallback, noted in
        `observability.degradation`) come first in the answer's `fallback_reason`."""
        own = generated.fallback_reason
        upstream = noted_degradations()
        if upstream:
            generated.fallback_reason = "; ".join([*upstream, *([own] if own else [])])
        metrics.observe_stage("generate", generated.generate_ms / 1000)
        mode: metrics.AnswerMode = "generated" if generated.mode == "generated" else "extractive"
        metrics.record_answer("degraded" if generated.fallback_reason else mode)
        for reason in [*upstream, *([own] if own else [])]:
            record_degraded_response(reason.split(":", 1)[0])
        if self.llm is None or not passages:
            return
        if generated.provider is None:
            # no call answered: the failover chain counted each failed call by provider
            if not isinstance(self.llm, FailoverLLM):
                reason = own or ""
                timed_out = "timed out" in reason or "timeout" in reason
                metrics.record_llm(provider_name(self.llm), "timeout" if timed_out else "error")
            return
        metrics.record_llm(
            generated.provider,
            "ok",
            tokens_in=generated.prompt_tokens,
            tokens_out=generated.completion_tokens,
            ttft=generated.time_to_first_token,
        )

    async def _generate(
        self, question: str, history: Sequence[ChatMessage], passages: Sequence[Passage]
    ) -> Generated:
        started = time.perf_counter()
        if self.llm is None or not passages:
            return await self._extractive(question, passages, started)
        try:
            completion = await self.llm.complete(await self._messages(question, history, passages))
        except LLMError as exc:
            return await self._extractive(
                question, passages, started, fallback_reason=f"llm_unavailable: {exc}"
            )
        provider = self._answered_by(completion)
        verdict = self.guard.check(completion.text)
        if not verdict.ok:
            self._guard_tripped(verdict)
            fallback = await self._extractive(
                question, passages, started, fallback_reason=OUTPUT_GUARD
            )
            fallback.prompt_tokens = completion.prompt_tokens
            fallback.completion_tokens = completion.completion_tokens
            fallback.provider = provider
            return fallback
        text, cited = self._checked(completion.text, passages)
        return Generated(
            text=text,
            cited=cited,
            mode="generated",
            generate_ms=(time.perf_counter() - started) * 1000,
            fallback_reason=getattr(completion, "fallback_reason", None),
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            provider=provider,
        )

    def _answered_by(self, call: object) -> str:
        """host/model of the provider that answered `call` (a failover chain's completion or
        stream names it; a single provider is the configured one)."""
        assert self.llm is not None
        return getattr(call, "provider_name", "") or provider_name(self.llm)

    async def _stream(
        self,
        question: str,
        history: Sequence[ChatMessage],
        passages: Sequence[Passage],
        *,
        allow_reset: bool,
    ) -> AsyncIterator[StreamItem]:
        started = time.perf_counter()
        if self.llm is None or not passages:
            generated = await self._extractive(question, passages, started)
            async for delta in stream_words(generated.text):
                yield "token", delta
            yield "final", generated
            return
        parts: list[str] = []
        guard = StreamGuard(self.guard)
        markers = StreamCitations(len(passages))  # tokens add up to the checked answer
        stream = self.llm.stream(await self._messages(question, history, passages))
        reason: str | None = None
        try:
            async for delta in stream:
                parts.append(delta)
                ready = guard.feed(delta)
                if guard.tripped is not None:
                    break
                ready = markers.feed(ready) if ready else ""
                if ready:
                    yield "token", ready
        except LLMError as exc:
            if guard.sent and not allow_reset:
                raise ServiceUnavailable(f"the language model failed mid-answer: {exc}") from exc
            reason = f"llm_unavailable: {exc}"
            if parts:  # the model had started answering: the client discards what it got
                yield "reset", "llm_failed"
        if guard.tripped is not None:
            await _close(stream)
            self._guard_tripped(guard.tripped)
            if guard.sent and not allow_reset:
                raise RagopsError(
                    "the answer was withheld by the output guard", code=OUTPUT_GUARD, status=502
                )
            reason = OUTPUT_GUARD
            if guard.sent:
                yield "reset", OUTPUT_GUARD
        if reason is not None:
            generated = await self._extractive(question, passages, started, fallback_reason=reason)
            if reason == OUTPUT_GUARD:  # the call answered; the guard withheld its text
                generated.provider = self._answered_by(stream)
            async for delta in stream_words(generated.text):
                yield "token", delta
            yield "final", generated
            return
        rest = markers.feed(guard.finish()) + markers.finish()
        if rest:
            yield "token", rest
        clean, cited = self._checked("".join(parts), passages)
        yield (
            "final",
            Generated(
                text=clean,
                cited=cited,
                mode="generated",
                generate_ms=(time.perf_counter() - started) * 1000,
                fallback_reason=getattr(stream, "fallback_reason", None),
                prompt_tokens=int(getattr(stream, "prompt_tokens", 0)),
                completion_tokens=int(getattr(stream, "completion_tokens", 0)),
                time_to_first_token=getattr(stream, "first_token_seconds", None),
                provider=self._answered_by(stream),
            ),
        )


async def _close(stream: object) -> None:
    """Stop an LLM stream that is abandoned early (no more tokens are paid for)."""
    close = getattr(stream, "aclose", None)
    if close is not None:
        try:
            await close()
        except Exception:  # closing an abandoned stream is best effort
            log.debug("llm_stream_close_failed")
