"""Checks of a restored instance: row counts, point counts, chunk rows against points, and the
audit trail's hash chain.

`compare_stores` is the small cross-store check verification and restores run on the embedded
store's files (no store is opened on them): it lists chunk rows without a point (lost vectors)
and points that no chunk row names (orphans). A restored pgvector store is opened and checked by
the store check itself (`consistency.service.find`), with its points per tenant and collection
compared with the manifest's.

The restored audit trail is walked by the same check as `ragops audit-log verify`
(`auth.chain.verify`): a backup of a trail whose chain is broken (a row changed, deleted or
reordered before the backup was taken) fails, since the restored trail would fail that check.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

from ragops.backup import database as dbpart
from ragops.backup.manifest import VERSION_TABLE, Manifest, VectorPart, split_scope_key
from ragops.backup.vectors import edge_count, edge_point_ids, edge_target
from ragops.config import Settings

AUDIT_LINES = 5
"""Breaks of the audit chain listed one a line (the rest counted)."""


@dataclass
class StoreComparison:
    """Chunk rows and points of a restored instance, compared by id."""

    chunks: int
    points: int
    missing_points: list[str] = field(default_factory=list)
    orphan_points: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        """No chunk row lacks its point (orphan points lose nothing and are only listed)."""
        return not self.missing_points


@dataclass
class Verification:
    """Counts in the manifest against counts found, and the cross-store comparison."""

    table_mismatches: dict[str, tuple[int, int]] = field(default_factory=dict)
    points_expected: int = 0
    points_found: int = 0
    stores: StoreComparison | None = None
    audit_rows: int = 0
    audit_problems: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every count equal, no chunk row without its point, no other problem."""
        return (
            not self.table_mismatches
            and self.points_expected == self.points_found
            and (self.stores is None or self.stores.consistent)
            and not self.audit_problems
            and not self.problems
        )

    def lines(self) -> list[str]:
        """A human summary, one finding a line."""
        out = [
            f"{t}: {want} rows in the backup, {got} restored"
            for t, (want, got) in self.table_mismatches.items()
        ]
        if self.points_expected != self.points_found:
            out.append(
                f"vectors: {self.points_expected} in the backup, {self.points_found} restored"
            )
        if self.stores is not None:
            if self.stores.missing_points:
                out.append(f"{len(self.stores.missing_points)} chunk rows have no vector point")
            if self.stores.orphan_points:
                out.append(
                    f"{len(self.stores.orphan_points)} vector points have no chunk row (orphans)"
                )
        if self.audit_problems:
            out.append(
                f"audit trail: its hash chain is broken ({len(self.audit_problems)} break(s) in "
                f"{self.audit_rows} chained events; the restored trail fails `ragops audit-log "
                "verify`)"
            )
            out += [f"audit trail: {p}" for p in self.audit_problems[:AUDIT_LINES]]
            if len(self.audit_problems) > AUDIT_LINES:
                out.append(f"audit trail: and {len(self.audit_problems) - AUDIT_LINES} more")
        return out + self.problems


async def audit_chain(settings: Settings, result: Verification) -> None:
    """Walk the restored audit trail's hash chain (`ragops audit-log verify`'s check)."""
    from ragops.auth.chain import verify
    from ragops.db import Database

    db = Database(settings)
    try:
        found = await verify(db)
    finally:
        await db.dispose()
    result.audit_rows = found.rows
    result.audit_problems = list(found.problems)


async def chunk_ids(database_url: str) -> set[str]:
    """Ids of every chunk row."""
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT id FROM chunks"))
            return {str(r[0]) for r in rows}
    finally:
        await engine.dispose()


async def compare_stores(settings: Settings, part: VectorPart) -> StoreComparison | None:
    """Chunk rows against the points of the restored Edge shard (None for other stores)."""
    if part.backend != "edge":
        return None
    rows = await chunk_ids(settings.resolved_database_url)
    points = await asyncio.to_thread(edge_point_ids, edge_target(settings, part), part)
    return StoreComparison(
        chunks=len(rows),
        points=len(points),
        missing_points=sorted(rows - points),
        orphan_points=sorted(points - rows),
    )


async def qdrant_count(settings: Settings, collection: str) -> int:
    """The point count of a collection on the Qdrant server of `settings`."""
    from qdrant_client import AsyncQdrantClient

    key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
    client = AsyncQdrantClient(url=settings.qdrant_url, api_key=key, timeout=60)
    try:
        return int((await client.count(collection_name=collection, exact=True)).count)
    finally:
        await client.close()


async def pgvector_check(settings: Settings, part: VectorPart, result: Verification) -> None:
    """The restored pgvector store: its points, per tenant and collection, and the store check
    (`ragops store check`, every point judged) against the restored chunk rows."""
    from ragops.consistency.service import find
    from ragops.db import Database
    from ragops.providers.vectorstore.base import SearchScope
    from ragops.providers.vectorstore.pgvector import PgVectorStore

    db = Database(settings)
    store = PgVectorStore(settings, model_id=part.model_id or "unknown", dimension=part.dimension)
    try:
        await store.ensure_ready(part.dimension or 0)
        result.points_found = await store.total_points()
        for scope, expected in part.scopes.items():
            tenant, collection = split_scope_key(scope)
            got = await store.count(SearchScope(tenant_id=tenant, collection=collection))
            if got != expected:
                result.problems.append(
                    f"vectors of {scope}: {expected} in the backup, {got} restored"
                )
        findings = await find(db, store, tenant_id=None, grace_seconds=0)
    finally:
        await store.aclose()
        await db.dispose()
    result.stores = StoreComparison(
        chunks=len(findings.rows),
        points=findings.points,
        missing_points=sorted(findings.missing),
        orphan_points=sorted(p.id for p in findings.orphans),
    )


async def verify_restored(manifest: Manifest, settings: Settings) -> Verification:
    """Compare the restored instance of `settings` with the manifest of its backup."""
    result = Verification(points_expected=manifest.vectors.points)
    found = await dbpart.table_counts(settings.resolved_database_url)
    for table, expected in manifest.database.tables.items():
        if table == VERSION_TABLE:
            continue  # migrations forward may rewrite it
        got = found.get(table, -1)
        if got != expected:
            result.table_mismatches[table] = (expected, got)
    part = manifest.vectors
    if part.backend == "edge":
        shard: Path = edge_target(settings, part)
        result.points_found = await asyncio.to_thread(edge_count, shard, part)
        result.stores = await compare_stores(settings, part)
    elif part.backend == "pgvector":
        await pgvector_check(settings, part, result)
    elif part.backend == "qdrant":
        result.points_found = await qdrant_count(settings, part.collection or "")
    await audit_chain(settings, result)
    return result
