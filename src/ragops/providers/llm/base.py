"""The `LLM` interface: chat messages in, text (whole or streamed) out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable


class LLMError(Exception):
    """The provider failed (unreachable, timed out, refused, malformed answer)."""


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a chat prompt."""

    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class Completion:
    """A whole answer and the tokens it cost (0 when the provider does not say)."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


@runtime_checkable
class LLM(Protocol):
    """A chat-completions model."""

    @property
    def provider(self) -> str:
        """Short provider name for metrics and logs (e.g. "openai")."""
        ...

    @property
    def model(self) -> str:
        """Model name sent to the provider."""
        ...

    async def complete(self, messages: Sequence[ChatMessage]) -> Completion:
        """Answer in one piece. Raises LLMError."""
        ...

    def stream(self, messages: Sequence[ChatMessage]) -> AsyncIterator[str]:
        """Answer as text deltas. Raises LLMError (possibly after some deltas)."""
        ...

    async def ping(self) -> None:
        """Raise LLMError if the provider cannot be reached."""
        ...

    async def aclose(self) -> None:
        """Close HTTP clients."""
        ...
