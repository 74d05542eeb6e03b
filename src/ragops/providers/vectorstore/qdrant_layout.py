"""The collection layout the Qdrant stores share (`qdrant.py`, `edge.py`; `pgvector.py` names its
tables after it): the collection's name, its two named vectors, the filter of a search scope
and reading a point's dense vector back.

Named after the embedder's model id and vector size (`ragops_chunks__all-minilm-l6-v2-int8_384`),
so switching embedding models never mixes vectors of two models. Each point has a dense vector
`DENSE` (cosine), a sparse vector `SPARSE` (BM25 term weights, IDF computed by the engine) and,
when ingested with `RAGOPS_SENTENCE_VECTORS`, a multivector `SENTENCES` (one row per unit of the
chunk, compared by MaxSim). A collection created with `RAGOPS_SECOND_EMBEDDER` set also has the
dense vector `SECOND` (cosine) of the second embedder; one created without it never gains it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ragops.providers.vectorstore.base import ChunkPoint, SearchScope

if TYPE_CHECKING:  # imported where used: the embedded store and pgvector never load it
    from qdrant_client import models

DENSE = "dense"
SPARSE = "bm25"
SENTENCES = "sentences"
"""The multivector of a chunk's title and sentences (MaxSim comparator, no HNSW graph: it is
only ever searched restricted to a hundred point ids). Collections created before it have
none."""


SECOND = "dense_second"
"""The second embedder's dense vector (cosine, HNSW like `DENSE`), only in collections created
with `RAGOPS_SECOND_EMBEDDER` set."""


def collection_name(base: str, model_id: str, dimension: int) -> str:
    """`<base>__<model id>_<dimension>`, reduced to characters Qdrant accepts everywhere."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", model_id.lower()).strip("-")
    return f"{base}__{slug}_{dimension}"


def scope_filter(scope: SearchScope) -> models.Filter:
    """The filter every search in `scope` carries: tenant, then collection and documents."""
    from qdrant_client import models

    must: list[models.Condition] = [
        models.FieldCondition(key="tenant_id", match=models.MatchValue(value=scope.tenant_id))
    ]
    if scope.collection is not None:
        must.append(
            models.FieldCondition(key="collection", match=models.MatchValue(value=scope.collection))
        )
    if scope.document_ids is not None:
        must.append(
            models.FieldCondition(
                key="document_id", match=models.MatchAny(any=list(scope.document_ids))
            )
        )
    return models.Filter(must=must)


def vectors_config(dimension: int, second: int | None) -> dict[str, models.VectorParams]:
    """The dense vectors of a new collection on a Qdrant server or in local mode: `DENSE`,
    `SENTENCES` and, with a second embedder of size `second`, `SECOND`."""
    from qdrant_client import models

    vectors = {
        DENSE: models.VectorParams(size=dimension, distance=models.Distance.COSINE),
        SENTENCES: models.VectorParams(
            size=dimension,
            distance=models.Distance.COSINE,
            multivector_config=models.MultiVectorConfig(
                comparator=models.MultiVectorComparator.MAX_SIM
            ),
            # Searched only restricted to a hundred ids: no graph to build.
            hnsw_config=models.HnswConfigDiff(m=0, payload_m=0),
        ),
    }
    if second is not None:
        vectors[SECOND] = models.VectorParams(size=second, distance=models.Distance.COSINE)
    return vectors


def point_struct(point: ChunkPoint, *, sentences: bool, second: bool) -> models.PointStruct:
    """A point as qdrant-client writes it: its dense and BM25 vectors, its sentence vectors
    when the collection has the multivector (`sentences`), its second embedder's vector when
    it has that vector (`second`)."""
    from qdrant_client import models

    vector: dict[str, Any] = {DENSE: point.dense.astype(np.float32).tolist()}
    if point.sparse.indices:  # Qdrant rejects empty sparse vectors
        vector[SPARSE] = models.SparseVector(
            indices=point.sparse.indices, values=point.sparse.values
        )
    if sentences and point.sentences is not None and len(point.sentences):
        vector[SENTENCES] = point.sentences.astype(np.float32).tolist()
    if second and point.second is not None:
        vector[SECOND] = point.second.astype(np.float32).tolist()
    return models.PointStruct(id=point.id, vector=vector, payload=point.payload)


def wanted_vectors(*, dense: bool, second: bool) -> list[str] | bool:
    """The `with_vector(s)` argument of a read: the named vectors asked for, or False."""
    names = [name for name, on in ((DENSE, dense), (SECOND, second)) if on]
    return names or False


def dense_of(vector: Any, name: str = DENSE) -> npt.NDArray[np.float32] | None:
    """The dense vector `name` of a returned point (its named vectors, or the bare vector
    for `DENSE`), if any."""
    if isinstance(vector, dict):
        vector = vector.get(name)
    elif name != DENSE:
        return None
    if vector is None:
        return None
    return np.asarray(vector, dtype=np.float32)
