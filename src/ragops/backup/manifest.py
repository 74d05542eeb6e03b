"""The manifest of a backup: what it holds and how to check it.

`manifest.json` is the last member of the backup archive and is only written once every other
file is complete, so a backup with a manifest is a finished one. It records the release and
migration revision that wrote it, row counts per table, the vector collection and its point
count (pgvector: its tables, which are inside the database dump, and the points per tenant and
collection), the corpus versions, the SHA-256 and size of every other file, and when it started and
ended.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

FORMAT = 1
MANIFEST_NAME = "manifest.json"
SQLITE_FILE = "database.sqlite"
PG_DUMP_FILE = "database.dump"
VECTORS_DIR = "vectors"
VERSION_TABLE = "alembic_version"
"""The migrations' own table: counted in the manifest but not data (migrations rewrite it)."""


def data_rows(tables: Mapping[str, int]) -> int:
    """The rows of a manifest's table counts that are data: all but `VERSION_TABLE`'s."""
    return sum(count for table, count in tables.items() if table != VERSION_TABLE)


class FileEntry(BaseModel):
    """One file of the backup."""

    sha256: str
    bytes: int


class DatabasePart(BaseModel):
    """The relational data: which backend wrote it, its file, its row counts."""

    backend: Literal["sqlite", "postgresql"]
    file: str
    tables: dict[str, int]


class VectorPart(BaseModel):
    """The vectors: the store kind, the collection, its layout and point count."""

    backend: Literal["edge", "qdrant", "pgvector", "none"]
    collection: str | None = None
    model_id: str | None = None
    dimension: int | None = None
    points: int = 0
    path: str | None = Field(None, description="Directory or file of the vectors in the archive.")
    tables: list[str] = Field(
        [], description="pgvector: the store's tables, inside the database dump (`path`)."
    )
    scopes: dict[str, int] = Field(
        {}, description="pgvector: points per `tenant/collection`, as of the dump's snapshot."
    )
    how: str | None = Field(None, description="How the vectors were cut, in words.")


class CorpusVersionEntry(BaseModel):
    """The corpus version of one tenant's collection (the cache keys name it)."""

    tenant_id: str
    collection: str
    version: int


class Manifest(BaseModel):
    """Everything a restore and a verification need to know about one backup."""

    format: int = FORMAT
    ragops_version: str
    migration_revision: str | None
    database: DatabasePart
    vectors: VectorPart
    corpus_versions: list[CorpusVersionEntry] = []
    files: dict[str, FileEntry]
    started_at: str
    finished_at: str
    seconds: float
    notes: list[str] = []

    def problems(self) -> list[str]:
        """Inconsistencies inside the manifest itself (empty when it is consistent)."""
        found: list[str] = []
        if self.format != FORMAT:
            found.append(f"unknown backup format {self.format} (this release reads {FORMAT})")
        if self.database.file not in self.files:
            found.append(f"the database file {self.database.file} is not listed")
        if any(count < 0 for count in self.database.tables.values()):
            found.append("a table has a negative row count")
        vectors = self.vectors
        if vectors.backend != "none":
            listed = [n for n in self.files if vectors.path and n.startswith(vectors.path)]
            if not listed:
                found.append("the vector files are not listed")
        chunks = self.database.tables.get("chunks")
        # More points than chunk rows is possible (points of a failed write that the store
        # reconcile has not removed yet: orphans, which lose nothing); fewer is a loss.
        if vectors.backend != "none" and chunks is not None and vectors.points < chunks:
            found.append(f"{vectors.points} vector points but {chunks} chunk rows")
        if vectors.backend == "pgvector":
            found += _pgvector_problems(self)
        if self.finished_at < self.started_at:
            found.append("finished before it started")
        return found


def scope_key(tenant_id: str, collection: str | None) -> str:
    """The key of a tenant's collection in `VectorPart.scopes`: `tenant/collection` (nothing
    after the `/` for points without a collection). Unambiguous because neither part can hold
    a `/`: tenant ids are refused without one at every entry (`auth.models.validate_tenant`,
    at key creation and on `--tenant`; the HTTP API never takes a tenant id from the caller,
    only the key's), and so are collection names (`config.names`)."""
    return f"{tenant_id}/{collection or ''}"


def split_scope_key(key: str) -> tuple[str, str | None]:
    """The tenant id and collection (None when empty) of a `scope_key`."""
    tenant_id, _, collection = key.partition("/")
    return tenant_id, collection or None


def _pgvector_problems(manifest: Manifest) -> list[str]:
    """The pgvector tables are in the dump: their row counts are among the database's."""
    vectors, tables = manifest.vectors, manifest.database.tables
    found: list[str] = []
    if vectors.path != manifest.database.file:
        found.append("pgvector vectors outside the database dump")
    if not vectors.tables:
        found.append("the pgvector tables are not named")
    elif tables.get(vectors.tables[0]) != vectors.points:
        found.append(
            f"{vectors.points} pgvector points but {tables.get(vectors.tables[0])} rows in "
            f"{vectors.tables[0]}"
        )
    if sum(vectors.scopes.values()) != vectors.points:
        found.append("the pgvector points per tenant do not add up to the points")
    return found


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def file_entries(root: Path) -> dict[str, FileEntry]:
    """SHA-256 and size of every file under `root`, by POSIX path relative to it."""
    entries: dict[str, FileEntry] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.relative_to(root).as_posix()
        if name != MANIFEST_NAME:
            entries[name] = FileEntry(sha256=sha256_file(path), bytes=path.stat().st_size)
    return entries


def checksum_problems(manifest: Manifest, root: Path) -> list[str]:
    """Files missing, added or changed under `root` compared with the manifest."""
    found: list[str] = []
    present = {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.name != MANIFEST_NAME
    }
    for name in sorted(set(manifest.files) - present):
        found.append(f"missing file {name}")
    for name in sorted(present - set(manifest.files)):
        found.append(f"unlisted file {name}")
    for name in sorted(set(manifest.files) & present):
        entry = manifest.files[name]
        path = root / name
        if path.stat().st_size != entry.bytes or sha256_file(path) != entry.sha256:
            found.append(f"checksum mismatch: {name}")
    return found
