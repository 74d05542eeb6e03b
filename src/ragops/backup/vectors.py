"""The vector part of a backup and of a restore, per store.

Embedded store (Qdrant Edge): the shard's files, copied by the store's own thread after a
flush while nothing writes (`EdgeVectorStore.copy_files`). A restore copies them under a
temporary name beside the target shard and renames, holding the target store's lock, so no
ragops process opens the shard half-written.

Qdrant server: a collection snapshot through its API (created, downloaded, deleted); a restore
uploads it into the target collection. The server cannot be held while the database snapshot is
taken, so points written meanwhile may appear as orphans, which `store check` lists. This path
needs a Qdrant server and is not exercised by the test suite.

pgvector: the store's tables (chunks, postings, sentences) live in the application's
database, so they are inside the
`pg_dump` of the database's snapshot: the same moment as every chunk row, with no hold. The
manifest names the tables and counts their points per tenant and collection in that snapshot,
and the dump's table of contents is checked to hold them and the `vector` extension. A restore
of the dump brings them back (the target server needs the extension installed). A pgvector
store in another database (`RAGOPS_PGVECTOR_URL` naming a different one) is refused: one
snapshot cannot span two databases, and cutting both at one moment would mean holding every
vector write for the length of the second dump (docs/runbooks/database-recovery.md).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import qdrant_edge as qe

from ragops.backup import database as dbpart
from ragops.backup.manifest import VECTORS_DIR, VectorPart, scope_key
from ragops.config import Settings
from ragops.providers.vectorstore.base import VectorStore
from ragops.providers.vectorstore.edge import (
    LOCK_NAME,
    EdgeVectorStore,
    StoreLock,
    stored_config,
)
from ragops.providers.vectorstore.pgvector import PgVectorStore

if TYPE_CHECKING:
    from ragops.providers.vectorstore.qdrant import QdrantVectorStore


class VectorBackupError(Exception):
    """Copying or restoring the vectors failed (the message says why)."""


async def copy_vectors(
    store: VectorStore, work: Path, while_held: Callable[[], Awaitable[None]]
) -> VectorPart:
    """Write the store's vectors under `work/vectors/`, running `while_held` at the moment
    they are cut (before, for a Qdrant server)."""
    if isinstance(store, EdgeVectorStore):
        rel = f"{VECTORS_DIR}/{store.name}"
        points = await store.copy_files(work / rel, while_held=while_held)
        return VectorPart(
            backend="edge",
            collection=store.name,
            model_id=store.model_id,
            dimension=store.dimension,
            points=points,
            path=rel,
        )
    from ragops.providers.vectorstore.qdrant import QdrantVectorStore  # slow to import

    if isinstance(store, QdrantVectorStore):
        await while_held()
        return await _qdrant_snapshot(store, work)
    raise VectorBackupError(f"backups do not support the vector store {type(store).__name__}")


async def _qdrant_snapshot(store: QdrantVectorStore, work: Path) -> VectorPart:
    client = store.client
    name = store.name
    if store.settings.qdrant_url is None:
        raise VectorBackupError("backups of qdrant-client's local mode are not supported")
    description = await client.create_snapshot(collection_name=name, wait=True)
    if description is None:
        raise VectorBackupError(f"the Qdrant server made no snapshot of {name}")
    rel = f"{VECTORS_DIR}/{name}.snapshot"
    dest = work / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        await _http_download(
            store.settings, f"/collections/{name}/snapshots/{description.name}", dest
        )
    finally:
        await client.delete_snapshot(collection_name=name, snapshot_name=description.name)
    points = (await client.count(collection_name=name, exact=True)).count
    return VectorPart(
        backend="qdrant",
        collection=name,
        model_id=store.model_id,
        dimension=store.dimension,
        points=points,
        path=rel,
    )


def pgvector_outside(store: PgVectorStore, database_url: str) -> str | None:
    """Why the pgvector store cannot be backed up with the database, or None."""
    if dbpart.backend_of(database_url) != "postgresql":
        return "the pgvector store is backed up inside the PostgreSQL dump; the database is SQLite"
    if dbpart.same_database(store.dsn, database_url):
        return None
    return (
        "the pgvector store lives in another database (RAGOPS_PGVECTOR_URL) than the "
        "relational data: backups take the vectors inside the database's own dump and do not "
        "support a separate vector database (one snapshot cannot span two databases); keep the "
        "vectors in RAGOPS_DATABASE_URL, or back both databases up with the provider's tools "
        "and run `ragops backup check` and `ragops store check` on the restored pair"
    )


async def pgvector_part(
    store: PgVectorStore, snapshot: dbpart.PgSnapshot, dump_file: str
) -> VectorPart:
    """The pgvector store's part of the manifest, counted in the database's snapshot."""
    connection = snapshot.connection
    version = await connection.fetchval(
        "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
    )
    if version is None:
        raise VectorBackupError("the database has no vector extension: is the store pgvector?")
    table = store.table
    if not await connection.fetchval("SELECT to_regclass($1) IS NOT NULL", f'"{table}"'):
        raise VectorBackupError(f"the pgvector table {table} is not in the database")
    rows = await connection.fetch(
        f'SELECT tenant_id, collection, count(*) AS n FROM "{table}" '  # nosec B608
        "GROUP BY tenant_id, collection ORDER BY tenant_id, collection"
    )
    scopes = {scope_key(r["tenant_id"], r["collection"]): int(r["n"]) for r in rows}
    return VectorPart(
        backend="pgvector",
        collection=store.name,
        model_id=store.model_id,
        dimension=store.dimension,
        points=sum(scopes.values()),
        path=dump_file,
        tables=[table, f"{table}_terms", f"{table}_sentences"],
        scopes=scopes,
        how=f"inside the database dump, one snapshot with the relational data (pgvector {version})",
    )


def dump_problems(listing: str, part: VectorPart) -> list[str]:
    """What of the pgvector store the dump's table of contents (`pg_restore --list`) lacks."""
    lines = [line + " " for line in listing.splitlines() if not line.startswith(";")]
    found: list[str] = []
    if not any(" EXTENSION - vector " in line for line in lines):
        found.append("the dump does not create the vector extension")
    for table in part.tables:
        for kind in ("TABLE", "TABLE DATA"):
            if not any(f" {kind} public {table} " in line for line in lines):
                found.append(f"the dump holds no {kind} of {table}")
    return found


def _edge_open(path: Path, part: VectorPart) -> qe.EdgeShard:
    return qe.EdgeShard.load(str(path), stored_config(path, part.dimension or 0))


def edge_point_ids(path: Path, part: VectorPart) -> set[str]:
    """Every point id of an Edge shard directory (not in use by a store)."""
    shard = _edge_open(path, part)
    try:
        ids: set[str] = set()
        offset = None
        while True:
            request = qe.ScrollRequest(offset=offset, limit=10_000, with_payload=False)
            points, offset = shard.scroll(request)
            ids.update(str(p.id) for p in points)
            if offset is None or not points:
                return ids
    finally:
        shard.close()


def edge_count(path: Path, part: VectorPart) -> int:
    """The point count of an Edge shard directory (not in use by a store)."""
    shard = _edge_open(path, part)
    try:
        return int(shard.count(qe.CountRequest(exact=True)))
    finally:
        shard.close()


def edge_target(settings: Settings, part: VectorPart) -> Path:
    """Where the restored shard goes under the target's data directory."""
    return settings.edge_path / (part.collection or "")


def target_problem(part: VectorPart, settings: Settings) -> str | None:
    """Why `settings`' vector store cannot take this backup's vectors, or None."""
    store = settings.resolved_vector_store
    if part.backend == "pgvector":
        url = settings.resolved_pgvector_url
        if store != "pgvector" or url is None:
            return (
                "this backup holds pgvector vectors inside its database dump; restore it into "
                "a PostgreSQL database (--database-url) with RAGOPS_VECTOR_STORE=pgvector"
            )
        if not dbpart.same_database(url, settings.resolved_database_url):
            return (
                "this backup holds pgvector vectors inside its database dump; the target's "
                "RAGOPS_PGVECTOR_URL names another database than the one restored into"
            )
    elif part.backend in ("edge", "qdrant") and store == "pgvector":
        return f"this backup holds {part.backend} vectors; the target uses the pgvector store"
    return None


async def restore_vectors(part: VectorPart, extracted: Path, settings: Settings) -> None:
    """Put the backup's vectors in place for `settings`' store, replacing what is there
    (pgvector: nothing to do, the database's restore brought them)."""
    if part.backend in ("none", "pgvector"):
        return
    if part.backend == "qdrant" or settings.qdrant_url is not None:
        if part.backend != "qdrant" or settings.qdrant_url is None:
            raise VectorBackupError(
                f"this backup holds {part.backend} vectors; the target uses "
                f"{'a Qdrant server' if settings.qdrant_url else 'the embedded store'}"
            )
        await _qdrant_restore(part, extracted, settings)
        return
    await asyncio.to_thread(_edge_restore, part, extracted, settings)


def _edge_restore(part: VectorPart, extracted: Path, settings: Settings) -> None:
    root = settings.edge_path
    root.mkdir(parents=True, exist_ok=True)
    lock = StoreLock(root / LOCK_NAME)
    try:
        lock.acquire(root)
    except Exception as exc:
        raise VectorBackupError(str(exc)) from exc
    try:
        target = edge_target(settings, part)
        staged = target.with_name(f".{target.name}.restoring")
        old = target.with_name(f".{target.name}.replaced")
        for leftover in (staged, old):
            shutil.rmtree(leftover, ignore_errors=True)
        shutil.copytree(extracted / (part.path or ""), staged)
        if target.exists():
            os.replace(target, old)
        os.replace(staged, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        lock.release()


def _qdrant_http(settings: Settings) -> httpx.AsyncClient:
    headers = {}
    if settings.qdrant_api_key is not None:
        headers["api-key"] = settings.qdrant_api_key.get_secret_value()
    return httpx.AsyncClient(base_url=settings.qdrant_url or "", headers=headers, timeout=600)


async def _http_download(settings: Settings, path: str, dest: Path) -> None:
    async with _qdrant_http(settings) as http, http.stream("GET", path) as response:
        if response.status_code != 200:
            raise VectorBackupError(f"downloading the snapshot: HTTP {response.status_code}")
        with dest.open("wb") as out:
            async for block in response.aiter_bytes(1 << 20):
                out.write(block)


async def _qdrant_restore(part: VectorPart, extracted: Path, settings: Settings) -> None:
    """Upload the snapshot into the target server's collection (replacing it)."""
    path = f"/collections/{part.collection}/snapshots/upload"
    with (extracted / (part.path or "")).open("rb") as fh:
        async with _qdrant_http(settings) as http:
            response = await http.post(
                path, params={"priority": "snapshot", "wait": "true"}, files={"snapshot": fh}
            )
    if response.status_code != 200:
        raise VectorBackupError(f"uploading the snapshot: HTTP {response.status_code}")
