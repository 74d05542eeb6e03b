"""`create_llm`: the chat model the settings ask for, or None for extractive answers."""

from __future__ import annotations

from ragops.config.settings import Settings
from ragops.providers.llm.base import LLM


def create_llm(settings: Settings) -> LLM | None:
    """An `OpenAICompatibleLLM` when `llm_base_url` is set; None means the embedded default,
    the extractive answerer, which needs no model."""
    if not settings.llm_base_url:
        return None
    # imported here: the openai package takes most of a second to import, paid only when used
    from ragops.providers.llm.openai_compat import OpenAICompatibleLLM

    return OpenAICompatibleLLM.from_settings(settings)
