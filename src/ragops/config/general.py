"""General settings: the deployment environment, where embedded state lives, the address
`ragops serve` binds, logging and the bundled demo corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class GeneralSettings(BaseModel):
    """Fields of one process that every other group may depend on (`data_dir`)."""

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
    allow_embedded_in_production: bool = Field(
        False,
        description="Let production start on SQLite, the embedded vector store, no Redis, "
        "auto-migrate or the demo corpus (refused otherwise).",
    )
    demo_corpus: bool = Field(
        True, description="Ingest the bundled demo corpus (the project's docs) on first start."
    )
    demo_corpus_path: Path | None = Field(
        None, description="Folder of the demo corpus; default: the docs/ folder of the checkout."
    )
