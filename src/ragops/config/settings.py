"""Settings: every `RAGOPS_*` environment variable, typed, with embedded defaults.

Defaults run everything in-process: a SQLite file and Qdrant local storage under `./var/`,
an in-process cache, the offline ONNX embedder and the extractive answerer. Production swaps
each of them for a server by URL. `docs/configuration.md` documents every field; a test keeps
that table and this class in step.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All configuration of one ragops process."""

    model_config = SettingsConfigDict(
        env_prefix="RAGOPS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- general ---
    environment: Literal["development", "test", "production"] = Field(
        "development", description="Deployment environment; production turns on strict checks."
    )
    data_dir: Path = Field(
        Path("var"), description="Directory for embedded state (SQLite, Qdrant)."
    )
    host: str = Field("127.0.0.1", description="Address `ragops serve` binds.")
    port: int = Field(8000, ge=1, le=65535, description="Port `ragops serve` binds.")
    log_level: str = Field("INFO", description="Log level (DEBUG, INFO, WARNING, ERROR).")
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="Log format; auto = JSON in production, console otherwise."
    )
    demo_corpus: bool = Field(
        True, description="Ingest the bundled demo corpus (the project's docs) on first start."
    )
    demo_corpus_path: Path | None = Field(
        None, description="Folder of the demo corpus; default: the docs/ folder of the checkout."
    )

    # --- database ---
    database_url: str | None = Field(
        None,
        description="SQLAlchemy async URL; default sqlite+aiosqlite:///<data_dir>/ragops.db. "
        "Production: postgresql+asyncpg://user:pass@host/db.",
    )
    db_pool_min: int = Field(5, ge=0, description="Connections kept open (Postgres pool_size).")
    db_pool_max: int = Field(20, ge=1, description="Most connections at once (pool_size+overflow).")
    db_pool_timeout: float = Field(30.0, gt=0, description="Seconds to wait for a free connection.")
    db_pool_recycle: int = Field(1800, ge=-1, description="Seconds before a connection is renewed.")
    db_echo: bool = Field(False, description="Log every SQL statement (development only).")
    auto_migrate: bool = Field(
        True, description="Migrate the database to the newest schema when the server starts."
    )

    # --- cache ---
    redis_url: SecretStr | None = Field(
        None, description="Redis URL (redis://host:6379/0); default: in-process cache."
    )
    cache_ttl_seconds: int = Field(86400, ge=1, description="Time to live of cached entries.")

    # --- vector store ---
    qdrant_url: str | None = Field(
        None, description="Qdrant server URL; default: embedded local storage in <data_dir>/qdrant."
    )
    qdrant_api_key: SecretStr | None = Field(None, description="API key of the Qdrant server.")
    qdrant_collection: str = Field(
        "ragops_chunks", description="Qdrant collection that holds every tenant's chunks."
    )

    # --- embeddings ---
    embedder: Literal["onnx-minilm", "openai"] = Field(
        "onnx-minilm", description="Embedding provider: the bundled offline model or an API."
    )
    embedding_base_url: str | None = Field(
        None, description="OpenAI-compatible /v1 base URL for embeddings (embedder=openai)."
    )
    embedding_api_key: SecretStr | None = Field(None, description="API key for embeddings.")
    embedding_model: str = Field(
        "text-embedding-3-small", description="Embedding model name (embedder=openai)."
    )
    embedding_dimensions: int | None = Field(
        None, description="Vector size of the API model; asked of the API when unset."
    )
    embedding_batch_size: int = Field(64, ge=1, le=2048, description="Texts per embedding call.")

    # --- ingestion ---
    max_upload_bytes: int = Field(
        20 * 1024 * 1024, ge=1, description="Largest accepted document (bytes)."
    )
    max_pdf_pages: int = Field(500, ge=1, description="Most pages read from one PDF.")
    chunk_size: int = Field(1200, ge=200, le=8000, description="Largest chunk, in characters.")
    chunk_overlap: int = Field(150, ge=0, le=2000, description="Characters shared by neighbours.")

    # --- retrieval ---
    top_k: int = Field(5, ge=1, le=50, description="Passages given to the answerer.")
    candidate_k: int = Field(
        100, ge=1, le=1000, description="Candidates fetched from each of dense and sparse search."
    )
    score_floor: float = Field(
        0.25, ge=-1.0, le=1.0, description="Least dense cosine similarity of a cited passage."
    )
    fusion: Literal["rrf", "weighted"] = Field(
        "weighted", description="How dense and BM25 rankings are fused."
    )
    rrf_k: int = Field(10, ge=1, description="Rank constant of reciprocal rank fusion.")
    dense_weight: float = Field(1.0, ge=0.0, description="Weight of the dense ranking in fusion.")
    sparse_weight: float = Field(1.0, ge=0.0, description="Weight of the BM25 ranking in fusion.")
    reranker: Literal["none", "lexical"] = Field("none", description="Optional reranking stage.")

    # --- generation ---
    llm_base_url: str | None = Field(
        None, description="OpenAI-compatible /v1 base URL; unset = extractive answers, no LLM."
    )
    llm_api_key: SecretStr | None = Field(None, description="API key of the LLM endpoint.")
    llm_model: str = Field("gpt-4o-mini", description="Chat model name at the LLM endpoint.")
    llm_timeout_seconds: float = Field(30.0, gt=0, description="Timeout of one LLM call.")
    llm_max_tokens: int = Field(
        512, ge=1, le=32768, description="Most tokens in a generated answer."
    )
    llm_temperature: float = Field(0.1, ge=0.0, le=2.0, description="Sampling temperature.")

    # --- chat ---
    max_question_chars: int = Field(2000, ge=1, description="Longest accepted question.")
    history_turns: int = Field(3, ge=0, le=20, description="Earlier turns used by a follow-up.")
    default_collection: str = Field("default", description="Collection used when none is named.")

    # --- HTTP ---
    max_request_bytes: int = Field(
        25 * 1024 * 1024, ge=1, description="Largest accepted request body (bytes)."
    )

    # --- security ---
    auth_enabled: bool = Field(
        True, description="Require an API key on every API call; off only for local experiments."
    )
    cors_origins: list[str] = Field(
        [], description="Origins allowed by CORS (exact URLs); empty = no cross-origin access."
    )
    cors_allow_credentials: bool = Field(
        False, description="Let browsers send credentials cross-origin; never with origin '*'."
    )
    docs_enabled: bool | None = Field(
        None, description="Serve /docs and /openapi.json; unset = on except in production."
    )
    metrics_token: SecretStr | None = Field(
        None, description="Bearer token /metrics requires; unset = none (bind it to loopback)."
    )
    hsts_enabled: bool | None = Field(
        None, description="Send Strict-Transport-Security; unset = on in production only."
    )
    trusted_proxies: list[str] = Field(
        [], description="Proxy addresses/CIDRs whose X-Forwarded-For is believed; empty = none."
    )
    rate_limit_chat: str = Field(
        "60/minute", description="Chat requests allowed per API key (limits syntax)."
    )
    rate_limit_ingest: str = Field(
        "20/minute", description="Document uploads allowed per API key (limits syntax)."
    )
    rate_limit_per_ip: str = Field(
        "300/minute", description="Requests allowed per client address, any route (limits syntax)."
    )
    api_key_rotation_overlap_hours: int = Field(
        24, ge=0, description="Hours a rotated API key keeps working beside its successor."
    )
    bootstrap_api_key: bool = Field(
        True, description="Create and print a local API key on first start (development only)."
    )

    # --- observability ---
    otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP collector URL (http://host:4318); unset = tracing off."
    )
    otlp_headers: SecretStr | None = Field(
        None, description="Headers sent with OTLP exports, as comma-separated name=value pairs."
    )
    otel_service_name: str = Field("ragops", description="service.name of exported traces.")
    sentry_dsn: SecretStr | None = Field(
        None, description="Sentry DSN; unset = error reporting off."
    )
    sentry_environment: str | None = Field(
        None, description="Sentry environment name; unset = the value of RAGOPS_ENVIRONMENT."
    )
    sentry_traces_sample_rate: float = Field(
        0.0, ge=0.0, le=1.0, description="Share of requests Sentry traces (0 = errors only)."
    )
    git_commit: str | None = Field(
        None, description="Commit of the build; unset = `git rev-parse HEAD` in a checkout."
    )
    build_time: str | None = Field(None, description="When the build was made (ISO 8601).")
    image_tag: str | None = Field(
        None, description="Container image tag being run (what an image rollback changes)."
    )
    readiness_cache_seconds: float = Field(
        5.0, ge=0.0, description="Seconds /readyz reuses its dependency checks."
    )
    readiness_timeout_seconds: float = Field(
        2.0, gt=0.0, description="Timeout of one dependency check of /readyz."
    )
    readiness_slow_ms: float = Field(
        1000.0, gt=0.0, description="A dependency check slower than this is reported degraded."
    )
    max_in_flight_requests: int = Field(
        100, ge=0, description="Requests served at once before more are shed (503); 0 = no limit."
    )
    max_db_pool_waiters: int = Field(
        0, ge=0, description="Not ready while more checkouts than this wait on a full DB pool."
    )
    drain_seconds: float = Field(
        0.0, ge=0.0, description="After SIGTERM, seconds /readyz reports draining before stopping."
    )
    ops_sample_seconds: float = Field(
        5.0, gt=0.0, description="Interval of the /ops console's samples of the metrics."
    )
    dependency_check_seconds: float = Field(
        15.0,
        ge=0.0,
        description="Interval of the background dependency checks that keep "
        "ragops_dependency_up current without probes (0 = only when /readyz is asked).",
    )

    # --- content safety ---
    injection_policy: Literal["flag", "block"] = Field(
        "flag",
        description="Questions that look like prompt injection: flag (answer, log, count) or "
        "block (422 above the threshold).",
    )

    @field_validator("default_collection")
    @classmethod
    def _collection_name(cls, value: str) -> str:
        from ragops.config.names import validate_collection_name

        return validate_collection_name(value)

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to the SQLite file under `data_dir`."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'ragops.db').as_posix()}"

    @property
    def qdrant_path(self) -> Path:
        """Where embedded Qdrant keeps its files."""
        return self.data_dir / "qdrant"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
