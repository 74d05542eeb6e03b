"""LLM providers: the `LLM` interface and the OpenAI-compatible implementation."""

from ragops.providers.llm.base import LLM, ChatMessage, Completion, LLMError

__all__ = ["LLM", "ChatMessage", "Completion", "LLMError"]
