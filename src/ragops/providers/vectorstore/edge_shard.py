"""The Qdrant Edge shard in the engine's own terms (`qdrant_edge`): the layout of `qdrant.py`
as an `EdgeConfig` (with the sentence multivector when the shard was created with
`RAGOPS_SENTENCE_VECTORS` on, else without it, as earlier releases create and load it; with
the second embedder's dense vector when created with `RAGOPS_SECOND_EMBEDDER` set),
opening a shard with its payload indexes, the filters of a search scope and of a document,
the upsert operation and the hits read back. `edge.py` runs them in its one thread.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as qe

from ragops.providers.vectorstore.base import ChunkPoint, SearchScope, StoredHit
from ragops.providers.vectorstore.qdrant_layout import DENSE, SECOND, SENTENCES, SPARSE, dense_of

CONFIG_FILE = "edge_config.json"
"""The file a created shard holds: present means load, absent means create."""

PAYLOAD_INDEXES: dict[str, Any] = {
    "tenant_id": qe.KeywordIndexParams(is_tenant=True),
    "collection": qe.PayloadSchemaType.Keyword,
    "document_id": qe.PayloadSchemaType.Keyword,
    "version": qe.PayloadSchemaType.Integer,
}


def edge_filter(scope: SearchScope) -> qe.Filter:
    """The filter every search in `scope` carries: tenant, then collection and documents."""
    must: list[Any] = [qe.FieldCondition(key="tenant_id", match=qe.MatchValue(scope.tenant_id))]
    if scope.collection is not None:
        must.append(qe.FieldCondition(key="collection", match=qe.MatchValue(scope.collection)))
    if scope.document_ids is not None:
        must.append(
            qe.FieldCondition(key="document_id", match=qe.MatchAny(list(scope.document_ids)))
        )
    return qe.Filter(must=must)


def shard_config(
    dimension: int, *, sentences: bool = True, second: int | None = None
) -> qe.EdgeConfig:
    """The collection layout of `qdrant.py`, in the engine's terms; `sentences=False` is the
    layout of shards created before the sentence multivector existed; `second`, the size of
    the second embedder's vector in a shard created with one."""
    vectors = {DENSE: qe.EdgeVectorParams(size=dimension, distance=qe.Distance.Cosine)}
    if second is not None:
        vectors[SECOND] = qe.EdgeVectorParams(size=second, distance=qe.Distance.Cosine)
    if sentences:
        vectors[SENTENCES] = qe.EdgeVectorParams(
            size=dimension,
            distance=qe.Distance.Cosine,
            multivector_config=qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim),
            # Searched only restricted to a hundred ids: no graph to build.
            hnsw_config=qe.HnswIndexConfig(
                m=0, ef_construct=100, full_scan_threshold=10_000, payload_m=0
            ),
        )
    return qe.EdgeConfig(
        vectors=vectors,
        sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        # Searches are always per tenant: build HNSW graphs per tenant, not globally.
        hnsw_config=qe.HnswIndexConfig(
            m=0, ef_construct=100, full_scan_threshold=10_000, payload_m=16
        ),
    )


def has_sentences(path: Path, *, if_new: bool = False) -> bool:
    """Whether the shard at `path` has the sentence multivector; `if_new` when there is no
    shard there yet (whether one created now would)."""
    try:
        stored = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return if_new
    return SENTENCES in (stored.get("vectors") or {})


def second_size(path: Path, *, if_new: int | None = None) -> int | None:
    """The size of the second embedder's vector in the shard at `path` (None: it has none);
    `if_new` when there is no shard there yet (what one created now would have)."""
    try:
        stored = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return if_new
    params = (stored.get("vectors") or {}).get(SECOND)
    return int(params["size"]) if isinstance(params, dict) and "size" in params else None


def stored_config(path: Path, dimension: int) -> qe.EdgeConfig:
    """The layout the shard at `path` was created with (the engine refuses to load a shard
    with another): with or without the sentence multivector and the second vector."""
    return shard_config(dimension, sentences=has_sentences(path), second=second_size(path))


def open_shard(
    path: Path, dimension: int, *, sentences: bool, second: int | None = None
) -> qe.EdgeShard:
    """Load the shard at `path` (or create it there) and add any payload index it lacks.
    `sentences` and `second` are its layout, as `has_sentences` and `second_size` tell it: a
    stored shard must be loaded with the layout it was created with."""
    config = shard_config(dimension, sentences=sentences, second=second)
    if (path / CONFIG_FILE).exists():
        shard = qe.EdgeShard.load(str(path), config)
    else:
        shard = qe.EdgeShard.create(str(path), config)
    indexed = set(shard.info().payload_schema)
    for field, schema in PAYLOAD_INDEXES.items():
        if field not in indexed:
            shard.update(qe.UpdateOperation.create_field_index(field, schema))
    return shard


def document_filter(
    tenant_id: str, document_id: str, *, version: int | None, except_version: int | None
) -> qe.Filter:
    """A document's points: all, one version, or all but one version."""
    must: list[Any] = [
        qe.FieldCondition(key="tenant_id", match=qe.MatchValue(tenant_id)),
        qe.FieldCondition(key="document_id", match=qe.MatchValue(document_id)),
    ]
    must_not: list[Any] = []
    if version is not None:
        must.append(qe.FieldCondition(key="version", match=qe.MatchValue(version)))
    if except_version is not None:
        must_not.append(qe.FieldCondition(key="version", match=qe.MatchValue(except_version)))
    return qe.Filter(must=must, must_not=must_not or None)


def upsert_operation(
    points: Sequence[ChunkPoint], *, sentences: bool, second: bool = False
) -> qe.UpdateOperation:
    """The engine's upsert of `points` (built in the store's thread: it is CPU work); their
    sentence vectors only when the shard has the multivector (`sentences`), their second
    embedder's vectors only when it has that vector (`second`)."""
    structs = []
    for point in points:
        vector: dict[str, Any] = {DENSE: point.dense.astype(np.float32).tolist()}
        if point.sparse.indices:  # as on a server, which rejects empty sparse vectors
            vector[SPARSE] = qe.SparseVector(point.sparse.indices, point.sparse.values)
        if sentences and point.sentences is not None and len(point.sentences):
            vector[SENTENCES] = point.sentences.astype(np.float32).tolist()
        if second and point.second is not None:
            vector[SECOND] = point.second.astype(np.float32).tolist()
        structs.append(qe.Point(point.id, vector, point.payload))
    return qe.UpdateOperation.upsert_points(structs)


def flush_close(shard: qe.EdgeShard) -> None:
    """Flush the shard to disk, then close it (closed even when the flush fails)."""
    try:
        shard.flush()
    finally:
        shard.close()


def stored_hit(
    found: qe.ScoredPoint | qe.Record, score: float, *, dense: bool = False, second: bool = False
) -> StoredHit:
    """A `StoredHit` of a point the engine returned, with the vectors that were asked for."""
    return StoredHit(
        id=str(found.id),
        score=score,
        payload=found.payload or {},
        dense=dense_of(found.vector) if dense else None,
        second=dense_of(found.vector, SECOND) if second else None,
    )
