"""API shapes of the store check and reconcile."""

from __future__ import annotations

from pydantic import BaseModel, Field

SAMPLE_IDS = 20
"""Ids of each kind a report lists (the counts are complete)."""


class ScopeFindings(BaseModel):
    """Findings of one tenant's collection."""

    tenant_id: str
    collection: str
    orphan_points: int = Field(description="Points no chunk row names.")
    missing_points: int = Field(description="Chunk rows without their point.")


class StoreReport(BaseModel):
    """What a check found (and, after a reconcile, what it repaired)."""

    tenant_id: str | None = Field(description="The tenant checked; null: every tenant.")
    chunk_rows: int
    points: int
    orphan_points: int
    missing_points: int
    recent_points: int = Field(
        description="Points younger than the grace period, not judged (an ingest in flight "
        "writes its points before it commits their chunk rows)."
    )
    scopes: list[ScopeFindings]
    orphan_point_ids: list[str] = Field(description=f"Up to {SAMPLE_IDS} orphan point ids.")
    missing_chunk_ids: list[str] = Field(
        description=f"Up to {SAMPLE_IDS} ids of chunk rows without points."
    )
    documents_without_chunks: int = Field(
        0,
        description="Documents whose current version has no chunk rows though it had some "
        "(deleted by hand): ingest each file again, which rebuilds it.",
    )
    documents_without_chunks_sample: list[str] = Field(
        default_factory=list,
        description=f"Up to {SAMPLE_IDS} of them, as tenant/collection/source (document id).",
    )
    removed: int = Field(0, description="Orphan points removed by the reconcile.")
    recreated: int = Field(0, description="Missing points re-created by the reconcile.")
    seconds: float = 0.0

    @property
    def consistent(self) -> bool:
        """True when nothing is out of place."""
        return (
            self.orphan_points == 0
            and self.missing_points == 0
            and self.documents_without_chunks == 0
        )
