"""The backup drill: backup -> destroy -> restore on scratch data of realistic size, proving
that nothing is lost and measuring how long recovery takes.

1. A scratch instance (its own data directory; SQLite, or a new database on a PostgreSQL
   server, there optionally with the pgvector store) is migrated and filled (`scratch_data`:
   SciFact plus chat sessions).
2. Fingerprints are taken: per table, the row count and a SHA-256 over every row; for the
   vectors, the point count and a SHA-256 over every point's id, payload and dense vector (with
   pgvector, the SHA-256 of every row of the store's tables, which are in the database).
3. A backup is made while the store is open, as the service makes one.
4. The instance is destroyed: the store closed, the data directory deleted, the database
   dropped (PostgreSQL) or its file deleted (SQLite).
5. The backup is restored into the same place; the recovery time is the restore's (unpack,
   checksums, database, vectors, migrations).
6. Fingerprints are taken again and compared: records lost = rows and points missing.

The record (JSON) goes to `var/drills/backup-<UTC time>.json` for the readiness report.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import qdrant_edge as qe
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from ragops import __version__
from ragops.backup import database as dbpart
from ragops.backup.manifest import VERSION_TABLE, VectorPart
from ragops.backup.restore import restore_backup
from ragops.backup.service import create_backup
from ragops.backup.vectors import edge_target
from ragops.config import Settings

GOAL_SECONDS = 60.0


@dataclass
class Fingerprint:
    """Row counts and digests per table; point count and digest of the vectors."""

    rows: dict[str, int]
    digests: dict[str, str]
    points: int
    vectors_digest: str


@dataclass
class DrillRecord:
    """What a backup drill did and measured (written as JSON)."""

    kind: str
    started_at: str
    ragops_version: str
    database: str
    dataset: str
    vectors_source: str
    rows: dict[str, int]
    points: int
    backup_seconds: float
    backup_bytes: int
    destroy_seconds: float
    restore_seconds: float
    restore_steps: dict[str, float]
    verification_ok: bool
    verification_seconds: float
    records_lost: int
    points_lost: int
    checksums_equal: bool
    tables_differing: list[str]
    goal_seconds: float = GOAL_SECONDS
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Nothing lost, every checksum equal, the restore verified."""
        return (
            self.records_lost == 0
            and self.points_lost == 0
            and self.checksums_equal
            and self.verification_ok
        )


async def table_fingerprints(database_url: str) -> tuple[dict[str, int], dict[str, str]]:
    """Row count and a SHA-256 over the sorted rows of every table but alembic_version."""
    engine = create_async_engine(database_url)
    rows: dict[str, int] = {}
    digests: dict[str, str] = {}
    try:
        counts = await dbpart.table_counts(database_url)
        async with engine.connect() as connection:
            for table in sorted(counts):
                if table == VERSION_TABLE:
                    continue
                result = await connection.execute(text(f'SELECT * FROM "{table}"'))  # nosec B608
                lines = sorted(repr(tuple(row)) for row in result)
                digest = hashlib.sha256()
                for line in lines:
                    digest.update(line.encode("utf-8") + b"\n")
                rows[table] = len(lines)
                digests[table] = digest.hexdigest()
    finally:
        await engine.dispose()
    return rows, digests


def vector_fingerprint(path: Path, part: VectorPart) -> tuple[int, str]:
    """Point count and a SHA-256 over every point's id, payload and dense vector."""
    from ragops.providers.vectorstore.edge import stored_config

    shard = qe.EdgeShard.load(str(path), stored_config(path, part.dimension or 0))
    try:
        items: list[str] = []
        offset = None
        while True:
            request = qe.ScrollRequest(
                offset=offset, limit=2_000, with_payload=True, with_vector=True
            )
            points, offset = shard.scroll(request)
            for point in points:
                vector = point.vector or {}
                dense = vector.get("dense") if isinstance(vector, dict) else vector
                body = json.dumps([str(point.id), point.payload, dense], sort_keys=True)
                items.append(body)
            if offset is None or not points:
                break
    finally:
        shard.close()
    digest = hashlib.sha256()
    for item in sorted(items):
        digest.update(item.encode("utf-8") + b"\n")
    return len(items), digest.hexdigest()


async def fingerprint(settings: Settings, part: VectorPart) -> Fingerprint:
    """The fingerprint of an instance whose store is closed."""
    rows, digests = await table_fingerprints(settings.resolved_database_url)
    if part.backend == "pgvector":  # the vectors are tables of the database: set them apart
        points = rows.pop(part.tables[0], 0)
        digest = hashlib.sha256()
        for table in part.tables:
            rows.pop(table, None)
            digest.update(digests.pop(table, "").encode("ascii") + b"\n")
        return Fingerprint(
            rows=rows, digests=digests, points=points, vectors_digest=digest.hexdigest()
        )
    points, vectors = await asyncio.to_thread(vector_fingerprint, edge_target(settings, part), part)
    return Fingerprint(rows=rows, digests=digests, points=points, vectors_digest=vectors)


async def _destroy(settings: Settings) -> None:
    url = settings.resolved_database_url
    if dbpart.backend_of(url) == "postgresql":
        await dbpart.pg_drop_database(make_url(url))
    if settings.data_dir.exists():  # a pgvector instance may have written no file there
        shutil.rmtree(settings.data_dir)


async def run_drill(
    *,
    settings: Settings,
    dataset: Path,
    sessions: int,
    limit_docs: int | None,
    postgres_server: str | None,
    workdir: Path,
    cache_dir: Path,
    pgvector: bool = False,
) -> DrillRecord:
    """Run the drill on a scratch instance under `workdir` (removed afterwards); with
    `pgvector`, its vectors in the pgvector store of its scratch PostgreSQL database."""
    from ragops.backup.scratch_data import write_scratch_data
    from ragops.db import Database, migrate
    from ragops.providers.embedder.factory import create_embedder, resolve_dimension
    from ragops.providers.vectorstore.factory import create_vector_store

    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    scratch_dir = workdir / f"drill-{uuid.uuid4().hex[:8]}"
    update: dict[str, Any] = {
        "data_dir": scratch_dir / "instance",
        "backup_dir": scratch_dir / "backups",
        "qdrant_url": None,
        "database_url": None,
        "edge_index_threshold": 0,
    }
    if pgvector:
        if postgres_server is None:
            raise ValueError("the pgvector drill needs a PostgreSQL server")
        update |= {"vector_store": "pgvector", "pgvector_url": None}
    if postgres_server is not None:
        name = f"ragops_drill_{uuid.uuid4().hex[:12]}"
        update["database_url"] = (
            make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
        )
        await dbpart.pg_create_database(make_url(update["database_url"]))
    scratch = settings.model_copy(update=update)
    try:
        await migrate.upgrade(scratch)
        db = Database(scratch)
        embedder = create_embedder(scratch)
        store = create_vector_store(scratch, embedder)
        try:
            await store.ensure_ready(await resolve_dimension(embedder))
            written = await write_scratch_data(
                db=db,
                store=store,
                embedder=embedder,
                dataset=dataset,
                sessions=sessions,
                limit_docs=limit_docs,
                cache_dir=cache_dir,
            )
            mark = time.perf_counter()
            backup = await create_backup(settings=scratch, store=store)
            backup_seconds = time.perf_counter() - mark
        finally:
            await store.aclose()
            await db.dispose()
        part = backup.manifest.vectors
        before = await fingerprint(scratch, part)
        kept = backup.path  # outside the instance's data directory
        backup_bytes = kept.stat().st_size
        mark = time.perf_counter()
        await _destroy(scratch)
        destroy_seconds = time.perf_counter() - mark
        report = await restore_backup(kept, settings=scratch, key=None)
        verify_seconds = report.steps.pop("verification", 0.0)
        after = await fingerprint(scratch, part)
    finally:
        if postgres_server is not None:
            await dbpart.pg_drop_database(make_url(update["database_url"]))
        shutil.rmtree(scratch_dir, ignore_errors=True)
    lost = sum(max(before.rows[t] - after.rows.get(t, 0), 0) for t in before.rows)
    differing = sorted(t for t in before.digests if before.digests[t] != after.digests.get(t))
    return DrillRecord(
        kind="backup",
        started_at=started_at,
        ragops_version=__version__,
        database=dbpart.backend_of(scratch.resolved_database_url)
        + (" + pgvector" if pgvector else ""),
        dataset=f"{dataset.name} ({written.documents} documents, {written.sessions} sessions)",
        vectors_source=written.vectors,
        rows=before.rows,
        points=before.points,
        backup_seconds=round(backup_seconds, 3),
        backup_bytes=backup_bytes,
        destroy_seconds=round(destroy_seconds, 3),
        restore_seconds=round(report.seconds, 3),
        restore_steps={k: round(v, 3) for k, v in report.steps.items()},
        verification_ok=report.verification.ok,
        verification_seconds=round(verify_seconds, 3),
        records_lost=lost,
        points_lost=max(before.points - after.points, 0),
        checksums_equal=not differing and before.vectors_digest == after.vectors_digest,
        tables_differing=differing
        + ([] if before.vectors_digest == after.vectors_digest else ["vectors"]),
    )


def write_record(record: DrillRecord, directory: Path) -> Path:
    """Write the drill's JSON record under `directory`; its path."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"{record.kind}-{stamp}.json"
    body = asdict(record) | {
        "passed": record.passed,
        "goal_met": record.restore_seconds <= record.goal_seconds,
    }
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    return path
