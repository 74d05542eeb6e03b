"""The requests `edge.py` sends the Qdrant Edge engine (`qdrant_edge`), in the engine's terms:
the filters of a search scope and of a document, the dense, sparse (BM25 with IDF over the
searched tenant's collection) and sentence (MaxSim over given ids) queries, the scroll of a
scan, the upsert and delete operations, and the hits read back. The shard they run against
(its layout, payload indexes, opening and closing) is `edge_shard.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import qdrant_edge as qe

from ragops.providers.vectorstore.base import (
    SCAN_FIELDS,
    ChunkPoint,
    SearchScope,
    SparseVector,
    StoredHit,
)
from ragops.providers.vectorstore.qdrant_layout import DENSE, SECOND, SENTENCES, SPARSE, dense_of


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


def dense_request(
    vector: npt.NDArray[np.float32],
    scope: SearchScope,
    limit: int,
    *,
    with_payload: bool,
    second: bool = False,
) -> qe.QueryRequest:
    """Nearest points in `scope` by cosine, on the second embedder's vector when `second`."""
    using = SECOND if second else DENSE
    query = qe.Query.Nearest(np.asarray(vector, dtype=np.float32).tolist(), using=using)
    return qe.QueryRequest(
        limit=limit, query=query, filter=edge_filter(scope), with_payload=with_payload
    )


def sparse_request(
    vector: SparseVector, scope: SearchScope, limit: int, *, with_dense: bool, with_payload: bool
) -> qe.QueryRequest:
    """Best points in `scope` by BM25, IDF computed over the scope's tenant's collection;
    with their dense vectors when `with_dense`."""
    corpus = SearchScope(tenant_id=scope.tenant_id, collection=scope.collection)
    return qe.QueryRequest(
        limit=limit,
        query=qe.Query.Nearest(qe.SparseVector(vector.indices, vector.values), using=SPARSE),
        filter=edge_filter(scope),
        params=qe.SearchParams(idf=qe.IdfParams(corpus=edge_filter(corpus))),
        with_payload=with_payload,
        with_vector=[DENSE] if with_dense else False,
    )


def sentence_request(
    vector: npt.NDArray[np.float32], point_ids: Sequence[str], scope: SearchScope
) -> qe.QueryRequest:
    """A MaxSim query of the sentence multivector restricted to `point_ids` in `scope`
    (exact, without payloads)."""
    flt = edge_filter(scope)
    flt = qe.Filter(must=[*(flt.must or []), qe.HasIdCondition(set(point_ids))])
    return qe.QueryRequest(
        limit=len(point_ids),
        query=qe.Query.Nearest([np.asarray(vector, dtype=np.float32).tolist()], using=SENTENCES),
        filter=flt,
        params=qe.SearchParams(exact=True),
        with_payload=False,
    )


def scan_request(tenant_id: str | None, offset: Any, batch: int) -> qe.ScrollRequest:
    """One page of a scan (of one tenant, or of all) from `offset`, `SCAN_FIELDS` only."""
    flt = edge_filter(SearchScope(tenant_id=tenant_id)) if tenant_id is not None else None
    return qe.ScrollRequest(
        offset=offset, limit=batch, filter=flt, with_payload=SCAN_FIELDS, with_vector=False
    )


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
