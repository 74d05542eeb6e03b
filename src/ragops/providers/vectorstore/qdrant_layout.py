"""The collection layout the Qdrant stores share (`qdrant.py`, `edge.py`; `pgvector.py` names its
tables after it): the collection's name, its two named vectors, the filter of a search scope
and reading a point's dense vector back.

Named after the embedder's model id and vector size (`ragops_chunks__all-minilm-l6-v2-int8_384`),
so switching embedding models never mixes vectors of two models. Each point has a dense vector
`DENSE` (cosine), a sparse vector `SPARSE` (BM25 term weights, IDF computed by the engine) and,
when ingested with `RAGOPS_SENTENCE_VECTORS`, a multivector `SENTENCES` (one row per unit of the
chunk, compared by MaxSim).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import numpy.typing as npt
from qdrant_client import models

from ragops.providers.vectorstore.base import SearchScope

DENSE = "dense"
SPARSE = "bm25"
SENTENCES = "sentences"
"""The multivector of a chunk's title and sentences (MaxSim comparator, no HNSW graph: it is
only ever searched restricted to a hundred point ids). Collections created before it have
none."""


def collection_name(base: str, model_id: str, dimension: int) -> str:
    """`<base>__<model id>_<dimension>`, reduced to characters Qdrant accepts everywhere."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", model_id.lower()).strip("-")
    return f"{base}__{slug}_{dimension}"


def scope_filter(scope: SearchScope) -> models.Filter:
    """The filter every search in `scope` carries: tenant, then collection and documents."""
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


def dense_of(vector: Any) -> npt.NDArray[np.float32] | None:
    """The dense vector of a returned point (its named vectors, or the bare vector), if any."""
    if isinstance(vector, dict):
        vector = vector.get(DENSE)
    if vector is None:
        return None
    return np.asarray(vector, dtype=np.float32)
