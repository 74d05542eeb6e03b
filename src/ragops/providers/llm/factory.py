"""`create_llm`: the chat model the settings ask for, or None for extractive answers."""

from __future__ import annotations

from ragops.config.settings import Settings
from ragops.providers.llm.base import LLM
from ragops.providers.llm.failover import FailoverLLM


def create_llm(settings: Settings) -> LLM | None:
    """The failover chain of the configured providers (`llm_base_url`, then `llm_fallbacks`),
    each behind a circuit breaker; None (no `llm_base_url`) means the embedded default, the
    extractive answerer, which needs no model."""
    if not settings.llm_base_url:
        return None
    # imported here: the openai package takes most of a second to import, paid only when used
    from ragops.providers.llm.openai_compat import OpenAICompatibleLLM

    providers: list[LLM] = [OpenAICompatibleLLM.from_settings(settings)]
    providers += [
        OpenAICompatibleLLM.from_endpoint(endpoint, settings) for endpoint in settings.llm_fallbacks
    ]
    return FailoverLLM(
        providers,
        failure_threshold=settings.llm_circuit_failures,
        reset_seconds=settings.llm_circuit_reset_seconds,
    )
