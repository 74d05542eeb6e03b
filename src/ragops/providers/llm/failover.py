"""`FailoverLLM`: an ordered chain of LLM providers behind one `LLM`.

Each call goes to the first provider whose circuit breaker lets it through; a provider that
fails (`LLMError`) is recorded on its breaker and the next one is tried. A stream fails over
only before its first token: once text has been sent, a failure is the caller's (who falls
back to the extractive answerer). When every provider fails or is skipped, `LLMError` names
them all; the caller's last resort is the extractive answerer.

An answer that came from any provider but the first carries `fallback_reason`
(`llm_failover: ...`), so the response says it is degraded. Names in reasons and logs are
"host/model", never keys. Each failed call counts in `ragops_llm_requests_total` under that
name (outcome error or timeout); the answering call is counted by the caller, with its tokens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from ragops.observability.metrics import record_llm
from ragops.providers.llm.base import LLM, ChatMessage, Completion, LLMError
from ragops.providers.llm.breaker import CircuitBreaker


@dataclass(frozen=True, slots=True)
class FailoverCompletion(Completion):
    """A completion, and why it did not come from the first provider (None when it did)."""

    fallback_reason: str | None = None
    provider_name: str = ""


def _failed(breaker: CircuitBreaker, exc: LLMError) -> None:
    """A failed call of the breaker's provider: the breaker learns it, the metrics count it
    under the provider's name (host/model, as the circuit metrics)."""
    error = str(exc)
    breaker.failure(error)
    timed_out = "timed out" in error or "timeout" in error
    record_llm(breaker.name, "timeout" if timed_out else "error")


def provider_name(llm: LLM) -> str:
    """ "host/model" of a provider (safe to show)."""
    host = getattr(llm, "host", llm.provider)
    return f"{host}/{llm.model}"


class FailoverStream(AsyncIterator[str]):
    """A stream from the first provider that opens and sends its first token."""

    def __init__(self, chain: FailoverLLM, messages: Sequence[ChatMessage]) -> None:
        self._chain = chain
        self._messages = messages
        self._inner: AsyncIterator[str] | None = None
        self._breaker: CircuitBreaker | None = None
        self._started = False
        self.fallback_reason: str | None = None
        self.provider_name = ""

    def __aiter__(self) -> FailoverStream:
        return self

    def __getattr__(self, name: str) -> object:
        # prompt_tokens, completion_tokens, first_token_seconds... of the stream that answered
        if name.startswith("_") or self._inner is None:
            raise AttributeError(name)
        return getattr(self._inner, name)

    async def __anext__(self) -> str:
        if self._started and self._inner is not None:
            try:
                delta = await self._inner.__anext__()
            except LLMError as exc:
                if self._breaker is not None:
                    _failed(self._breaker, exc)
                raise
            except StopAsyncIteration:
                if self._breaker is not None:
                    self._breaker.success()
                raise
            return delta
        return await self._open()

    async def _open(self) -> str:
        failures: list[str] = []
        for index, (llm, breaker) in enumerate(self._chain.members):
            name = provider_name(llm)
            if not breaker.allow():
                failures.append(f"{name} skipped (circuit open)")
                continue
            inner = llm.stream(self._messages)
            try:
                first = await inner.__anext__()
            except StopAsyncIteration:
                breaker.success()
                self._adopt(inner, breaker, index, name, failures)
                raise
            except LLMError as exc:
                _failed(breaker, exc)
                failures.append(str(exc))
                await _close(inner)
                continue
            self._adopt(inner, breaker, index, name, failures)
            return first
        raise LLMError("every LLM provider failed: " + "; ".join(failures))

    def _adopt(
        self,
        inner: AsyncIterator[str],
        breaker: CircuitBreaker,
        index: int,
        name: str,
        failures: list[str],
    ) -> None:
        self._inner, self._breaker, self._started = inner, breaker, True
        self.provider_name = name
        if index > 0:
            self.fallback_reason = failover_reason(name, failures)

    async def aclose(self) -> None:
        """Stop early and release the provider's response."""
        if self._inner is not None:
            await _close(self._inner)


def failover_reason(name: str, failures: list[str]) -> str:
    return f"llm_failover: answered by {name} after: " + "; ".join(failures)


async def _close(stream: object) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        try:
            await close()
        except Exception:  # closing an abandoned stream is best effort
            pass


class FailoverLLM:
    """Several providers, tried in order, each behind its own circuit breaker."""

    def __init__(
        self,
        providers: Sequence[LLM],
        *,
        failure_threshold: int = 3,
        reset_seconds: float = 30.0,
    ) -> None:
        if not providers:
            raise ValueError("at least one LLM provider is needed")
        self.members: list[tuple[LLM, CircuitBreaker]] = [
            (
                llm,
                CircuitBreaker(
                    provider_name(llm),
                    failure_threshold=failure_threshold,
                    reset_seconds=reset_seconds,
                ),
            )
            for llm in providers
        ]

    @property
    def provider(self) -> str:
        return self.members[0][0].provider

    @property
    def model(self) -> str:
        return self.members[0][0].model

    @property
    def host(self) -> str:
        return str(getattr(self.members[0][0], "host", self.provider))

    async def complete(self, messages: Sequence[ChatMessage]) -> Completion:
        """The first provider's answer that succeeds. Raises LLMError when all fail."""
        failures: list[str] = []
        for index, (llm, breaker) in enumerate(self.members):
            name = provider_name(llm)
            if not breaker.allow():
                failures.append(f"{name} skipped (circuit open)")
                continue
            try:
                completion = await llm.complete(messages)
            except LLMError as exc:
                _failed(breaker, exc)
                failures.append(str(exc))
                continue
            breaker.success()
            reason = failover_reason(name, failures) if index > 0 else None
            return FailoverCompletion(
                completion.text,
                completion.prompt_tokens,
                completion.completion_tokens,
                fallback_reason=reason,
                provider_name=name,
            )
        raise LLMError("every LLM provider failed: " + "; ".join(failures))

    def stream(self, messages: Sequence[ChatMessage]) -> FailoverStream:
        """Deltas from the first provider that starts answering."""
        return FailoverStream(self, messages)

    async def ping(self) -> None:
        """Raise LLMError unless at least one provider answers."""
        errors: list[str] = []
        for llm, _ in self.members:
            try:
                await llm.ping()
                return
            except LLMError as exc:
                errors.append(str(exc))
        raise LLMError("; ".join(errors))

    def status(self) -> list[dict[str, object]]:
        """Each provider's position, name and circuit state (no keys, no URLs)."""
        return [
            {"position": index + 1, "name": breaker.name, "circuit": breaker.state}
            for index, (_, breaker) in enumerate(self.members)
        ]

    async def aclose(self) -> None:
        for llm, _ in self.members:
            await llm.aclose()
