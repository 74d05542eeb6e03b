"""Generation settings: the LLM endpoint and its failover chain, and the chat requests it
answers (question length, history, default collection)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr, field_validator


class LLMEndpoint(BaseModel):
    """One more OpenAI-compatible LLM provider of the failover chain."""

    model_config = {"extra": "forbid"}

    base_url: str
    model: str
    api_key: SecretStr | None = None
    timeout_seconds: float = Field(30.0, gt=0)
    connect_timeout_seconds: float = Field(5.0, gt=0)
    first_token_timeout_seconds: float | None = Field(None, gt=0)
    total_timeout_seconds: float = Field(60.0, gt=0)


class GenerationSettings(BaseModel):
    """How answers are written: the LLM providers, their deadlines and breakers, and chat."""

    # --- generation ---
    llm_base_url: str | None = Field(
        None, description="OpenAI-compatible /v1 base URL; unset = extractive answers, no LLM."
    )
    llm_api_key: SecretStr | None = Field(None, description="API key of the LLM endpoint.")
    llm_model: str = Field("gpt-4o-mini", description="Chat model name at the LLM endpoint.")
    llm_timeout_seconds: float = Field(
        30.0, gt=0, description="Timeout of one read from the LLM endpoint."
    )
    llm_first_token_timeout_seconds: float | None = Field(
        None, gt=0, description="Deadline of the first streamed token; unset = the read timeout."
    )
    llm_total_timeout_seconds: float = Field(
        60.0, gt=0, description="Deadline of a whole LLM answer, streamed or not."
    )
    llm_connect_timeout_seconds: float = Field(
        5.0, gt=0, description="Deadline of opening a connection to the LLM endpoint."
    )
    llm_fallbacks: list[LLMEndpoint] = Field(
        [],
        description="Further LLM providers tried in order when the first fails (JSON list of "
        "{base_url, model, api_key, timeout_seconds, connect_timeout_seconds, "
        "first_token_timeout_seconds, total_timeout_seconds}); the extractive answerer is last.",
    )
    llm_circuit_failures: int = Field(
        3, ge=1, description="Consecutive failures that open a provider's circuit breaker."
    )
    llm_circuit_reset_seconds: float = Field(
        30.0, gt=0, description="Seconds an open circuit waits before one probe call."
    )
    llm_max_tokens: int = Field(
        512, ge=1, le=32768, description="Most tokens in a generated answer."
    )
    llm_temperature: float = Field(0.1, ge=0.0, le=2.0, description="Sampling temperature.")

    # --- chat ---
    max_question_chars: int = Field(2000, ge=1, description="Longest accepted question.")
    history_turns: int = Field(3, ge=0, le=20, description="Earlier turns used by a follow-up.")
    default_collection: str = Field("default", description="Collection used when none is named.")

    @field_validator("default_collection")
    @classmethod
    def _collection_name(cls, value: str) -> str:
        from ragops.config.names import validate_collection_name

        return validate_collection_name(value)
