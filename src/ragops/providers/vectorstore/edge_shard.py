"""The Qdrant Edge shard in the engine's own terms (`qdrant_edge`): the layout of `qdrant.py`
as an `EdgeConfig` (with the sentence multivector when the shard was created with
`RAGOPS_SENTENCE_VECTORS` on, else without it, as earlier releases create and load it; with
the second embedder's dense vector when created with `RAGOPS_SECOND_EMBEDDER` set),
opening a shard with its payload indexes, and flushing and closing it. The requests sent to
it (filters, queries, the upsert operation, the hits read back) are in `edge_requests.py`.
`edge.py` runs them in its one thread.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from ragops.providers.vectorstore.qdrant_layout import DENSE, SECOND, SENTENCES, SPARSE

CONFIG_FILE = "edge_config.json"
"""The file a created shard holds: present means load, absent means create."""

PAYLOAD_INDEXES: dict[str, Any] = {
    "tenant_id": qe.KeywordIndexParams(is_tenant=True),
    "collection": qe.PayloadSchemaType.Keyword,
    "document_id": qe.PayloadSchemaType.Keyword,
    "version": qe.PayloadSchemaType.Integer,
}


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


def stored_vectors(path: Path) -> dict[str, Any] | None:
    """The dense vectors the shard at `path` was created with (name -> params, from its
    config file); None when there is no shard there yet."""
    try:
        stored = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return dict(stored.get("vectors") or {})


def has_sentences(path: Path, *, if_new: bool = False) -> bool:
    """Whether the shard at `path` has the sentence multivector; `if_new` when there is no
    shard there yet (whether one created now would)."""
    vectors = stored_vectors(path)
    return if_new if vectors is None else SENTENCES in vectors


def second_size(path: Path, *, if_new: int | None = None) -> int | None:
    """The size of the second embedder's vector in the shard at `path` (None: it has none);
    `if_new` when there is no shard there yet (what one created now would have)."""
    vectors = stored_vectors(path)
    if vectors is None:
        return if_new
    params = vectors.get(SECOND)
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


def flush_close(shard: qe.EdgeShard) -> None:
    """Flush the shard to disk, then close it (closed even when the flush fails)."""
    try:
        shard.flush()
    finally:
        shard.close()
