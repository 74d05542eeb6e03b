"""Storage settings: the database (pool, migrations, backups), the cache and the vector
store, with the values derived from them (URLs and paths resolved against `data_dir`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from ragops.config.general import GeneralSettings


class StorageSettings(GeneralSettings):
    """Where state is kept; builds on the general fields because its defaults live under
    `data_dir`."""

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
    db_sqlite_loop_reads: bool = Field(
        True,
        description="SQLite file: run the short reads of every request (API key, corpus "
        "version, collection) on the event loop, not in aiosqlite's thread.",
    )
    auto_migrate: bool = Field(
        True, description="Migrate the database to the newest schema when the server starts."
    )
    db_application_name: str = Field(
        "ragops",
        min_length=1,
        max_length=40,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="PostgreSQL application_name of the service's connections (migrations add "
        "'-migrate'); `ragops db kill` only acts on sessions of this name.",
    )
    db_kill_min_age_seconds: float = Field(
        30.0,
        ge=0.0,
        description="`ragops db kill` refuses queries and transactions younger than this.",
    )
    migration_database_url: SecretStr | None = Field(
        None,
        description="PostgreSQL: the owner role's URL, used for migrations and audit "
        "retention only; the service then connects as RAGOPS_DATABASE_URL's role with the "
        "privileges it needs (SELECT and INSERT on the audit trail). Default: "
        "RAGOPS_DATABASE_URL.",
    )
    backup_dir: Path | None = Field(
        None, description="Where `ragops backup create` writes; default: <data_dir>/backups."
    )
    backup_key: SecretStr | None = Field(
        None,
        description="Encrypts backups (AES-256-GCM): 32 bytes, base64 (`ragops backup key`).",
    )
    pg_bin_dir: Path | None = Field(
        None,
        description="Directory of the pg_dump/pg_restore that backups use; default: the newest "
        "of PATH and /usr/lib/postgresql/<N>/bin. Their major version must be the server's or "
        "newer.",
    )

    # --- cache ---
    redis_url: SecretStr | None = Field(
        None, description="Redis URL (redis://host:6379/0); default: in-process cache."
    )
    cache_ttl_seconds: int = Field(86400, ge=1, description="Time to live of cached entries.")
    answer_cache: bool = Field(
        True, description="Serve repeated questions from the answer cache (exact and semantic)."
    )
    semantic_cache: bool = Field(
        True, description="Also serve questions that mean the same as a cached one."
    )
    semantic_cache_max_error: float = Field(
        0.01,
        ge=0.0,
        le=0.5,
        description="Tolerated share of semantic cache hits that answer a different question; "
        "sets the similarity threshold (docs/caching.md).",
    )
    semantic_cache_threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Cosine threshold of the semantic cache; unset = the one measured for "
        "RAGOPS_SEMANTIC_CACHE_MAX_ERROR with the bundled embedder (`bench/cache.py`); with "
        "embedder=bge-small, which is not calibrated, unset = no semantic hits.",
    )

    # --- vector store ---
    vector_store: Literal["auto", "edge", "qdrant", "pgvector"] = Field(
        "auto",
        description="Vector store: edge (embedded, one process), qdrant (RAGOPS_QDRANT_URL) or "
        "pgvector (PostgreSQL, shared by instances); auto = pgvector when RAGOPS_PGVECTOR_URL "
        "is set, else qdrant when RAGOPS_QDRANT_URL is, else edge.",
    )
    pgvector_url: str | None = Field(
        None,
        description="PostgreSQL URL of the pgvector store; default: RAGOPS_DATABASE_URL (one "
        "database for documents and vectors).",
    )
    pgvector_ef_search: int = Field(
        100,
        ge=1,
        le=1000,
        description="pgvector store: HNSW candidates per dense search (hnsw.ef_search); higher "
        "finds more of a small tenant's chunks in a large table, slower.",
    )
    qdrant_url: str | None = Field(
        None,
        description="Qdrant server URL; default: the embedded engine (Qdrant Edge) in "
        "<data_dir>/edge, one process at a time.",
    )
    qdrant_api_key: SecretStr | None = Field(None, description="API key of the Qdrant server.")
    qdrant_collection: str = Field(
        "ragops_chunks", description="Qdrant collection that holds every tenant's chunks."
    )
    edge_index_threshold: int = Field(
        50_000,
        ge=0,
        description="Embedded store: build the HNSW index after this many new points (the "
        "process pauses while it builds; 0 = never).",
    )

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to the SQLite file under `data_dir`."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'ragops.db').as_posix()}"

    @property
    def owner_database_url(self) -> str:
        """The URL migrations and audit retention use (the owner role's)."""
        if self.migration_database_url is not None:
            return self.migration_database_url.get_secret_value()
        return self.resolved_database_url

    @property
    def resolved_vector_store(self) -> Literal["edge", "qdrant", "pgvector"]:
        """The vector store in use: `vector_store`, or chosen by which URL is set."""
        if self.vector_store != "auto":
            return self.vector_store
        if self.pgvector_url:
            return "pgvector"
        return "qdrant" if self.qdrant_url else "edge"

    @property
    def resolved_pgvector_url(self) -> str | None:
        """The pgvector store's URL: `pgvector_url`, else a PostgreSQL `database_url`."""
        if self.pgvector_url:
            return self.pgvector_url
        if self.database_url and self.database_url.startswith("postgres"):
            return self.database_url
        return None

    @property
    def qdrant_path(self) -> Path:
        """Where qdrant-client's local mode keeps its files (tests of the server path only)."""
        return self.data_dir / "qdrant"

    @property
    def edge_path(self) -> Path:
        """Where the embedded store (Qdrant Edge) keeps its shards and lock file."""
        return self.data_dir / "edge"
