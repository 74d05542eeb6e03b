"""What `qdrant.py` sends qdrant-client beyond the layout (`qdrant_layout.py`), and the hits it
reads back: the payload indexes of a new collection, the selector of a document's points, the
IDF corpus of a tenant's BM25 search, the filter of a sentence query restricted to point ids,
and a `StoredHit` of a returned point.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qdrant_client import models

from ragops.providers.vectorstore.base import SearchScope, StoredHit
from ragops.providers.vectorstore.qdrant_layout import SECOND, dense_of, scope_filter

PAYLOAD_INDEXES: dict[str, models.PayloadSchemaType | models.KeywordIndexParams] = {
    "tenant_id": models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
    "collection": models.PayloadSchemaType.KEYWORD,
    "document_id": models.PayloadSchemaType.KEYWORD,
    "version": models.PayloadSchemaType.INTEGER,
}
"""The payload indexes a collection on a server gets, in the order they are created."""


def document_selector(
    tenant_id: str, document_id: str, *, version: int | None, except_version: int | None
) -> models.FilterSelector:
    """A document's points: all, one version, or all but one version."""
    must: list[models.Condition] = [
        models.FieldCondition(key="tenant_id", match=models.MatchValue(value=tenant_id)),
        models.FieldCondition(key="document_id", match=models.MatchValue(value=document_id)),
    ]
    must_not: list[models.Condition] = []
    if version is not None:
        must.append(models.FieldCondition(key="version", match=models.MatchValue(value=version)))
    if except_version is not None:
        must_not.append(
            models.FieldCondition(key="version", match=models.MatchValue(value=except_version))
        )
    return models.FilterSelector(filter=models.Filter(must=must, must_not=must_not))


def tenant_idf(scope: SearchScope) -> models.SearchParams:
    """Search params computing BM25's IDF over the scope's tenant's collection only."""
    corpus = SearchScope(tenant_id=scope.tenant_id, collection=scope.collection)
    return models.SearchParams(idf=models.IdfCorpusParams(corpus=scope_filter(corpus)))


def _conditions(must: Any) -> list[models.Condition]:
    """A filter's `must` as a list (qdrant-client allows one condition or a list)."""
    if must is None:
        return []
    return list(must) if isinstance(must, list) else [must]


def ids_filter(scope: SearchScope, point_ids: Sequence[str]) -> models.Filter:
    """The filter of `scope` restricted to `point_ids`."""
    flt = scope_filter(scope)
    flt.must = [*_conditions(flt.must), models.HasIdCondition(has_id=list(point_ids))]
    return flt


def stored_hit(
    found: models.ScoredPoint | models.Record,
    score: float,
    *,
    dense: bool = False,
    second: bool = False,
) -> StoredHit:
    """A `StoredHit` of a point qdrant-client returned, with the vectors that were asked for."""
    return StoredHit(
        id=str(found.id),
        score=score,
        payload=dict(found.payload or {}),
        dense=dense_of(found.vector) if dense else None,
        second=dense_of(found.vector, SECOND) if second else None,
    )
