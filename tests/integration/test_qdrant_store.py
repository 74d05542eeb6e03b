"""The vector store contract on every backend: the embedded Qdrant Edge engine (the default),
the qdrant-client path (run here in its local mode, which shares every call with the server
path) and pgvector (a private PostgreSQL 16 server): writes, dense and BM25 search, tenant
isolation, per-tenant IDF, deletes by version; the lock of the local stores released by
`aclose()`; the shared pgvector store seen by two stores at once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pytest

from ragops.config.settings import Settings
from ragops.providers.vectorstore import ChunkPoint, SearchScope, VectorStore
from ragops.providers.vectorstore.base import VectorStoreError
from ragops.providers.vectorstore.edge import EdgeVectorStore
from ragops.providers.vectorstore.pgvector import PgVectorStore
from ragops.providers.vectorstore.qdrant import QdrantVectorStore, collection_name
from ragops.retrieval.sparse import Bm25Encoder
from tests.conftest import free_port
from tests.fakes.qdrant_server import QdrantRestServer

DIM = 4
ENCODER = Bm25Encoder(avg_len=5.0)
LOCAL_KINDS = ("edge", "qdrant-client")
KINDS = (*LOCAL_KINDS, "pgvector")
AnyStore = EdgeVectorStore | QdrantVectorStore | PgVectorStore
LOCKED = {"edge": "in use by another ragops process", "qdrant-client": "another client"}


def open_store(kind: str, settings: Settings, model_id: str, dimension: int | None) -> AnyStore:
    if kind == "edge":
        return EdgeVectorStore(settings, model_id=model_id, dimension=dimension)
    if kind == "pgvector":
        return PgVectorStore(settings, model_id=model_id, dimension=dimension)
    return QdrantVectorStore(settings, model_id=model_id, dimension=dimension)


def make_settings(tmp_path: Path, pgvector_url: str | None = None) -> Settings:
    # An Edge shard gets the sentence multivector only when created with the setting on.
    return Settings(
        _env_file=None, data_dir=tmp_path / "var", pgvector_url=pgvector_url, sentence_vectors=True
    )


def kind_settings(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Settings for `kind`; for pgvector, a fresh database on the session's pgvector server."""
    url = request.getfixturevalue("pgvector_url") if kind == "pgvector" else None
    return make_settings(tmp_path, url)


def unit(*values: float) -> np.ndarray[Any, np.dtype[np.float32]]:
    vector = np.asarray(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def point(
    tenant: str,
    doc: str,
    text: str,
    dense: np.ndarray[Any, np.dtype[np.float32]],
    *,
    version: int = 1,
    collection: str = "default",
) -> ChunkPoint:
    return ChunkPoint(
        id=str(uuid.uuid4()),
        dense=dense,
        sparse=ENCODER.encode_document(text),
        payload={
            "tenant_id": tenant,
            "collection": collection,
            "document_id": doc,
            "version": version,
            "chunk_id": str(uuid.uuid4()),
            "title": doc,
            "section": "",
            "text": text,
            "start": 0,
            "end": len(text),
            "ordinal": 0,
        },
    )


@pytest.fixture(params=(*KINDS, "qdrant-rest"))
async def store(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[AnyStore]:
    """Each store; "qdrant-rest" is the qdrant-client's server path, over HTTP to a Qdrant
    REST server on loopback (tests/fakes/qdrant_server.py)."""
    server = QdrantRestServer().start() if request.param == "qdrant-rest" else None
    settings = kind_settings(request.param, tmp_path, request)
    if server is not None:
        settings = settings.model_copy(update={"qdrant_url": server.url})
    opened = open_store(request.param, settings, "test-model", DIM)
    await opened.ensure_ready(DIM)
    try:
        yield opened
    finally:
        await opened.aclose()
        if server is not None:
            server.close()


async def test_protocol_and_collection_name(store: AnyStore) -> None:
    assert isinstance(store, VectorStore)
    assert store.name == "ragops_chunks__test-model_4"
    assert collection_name("c", "Open AI/Model:v1", 1536) == "c__open-ai-model-v1_1536"
    await store.ping()
    await store.ensure_ready(DIM)  # idempotent
    with pytest.raises(VectorStoreError):
        await store.ensure_ready(DIM + 1)


async def test_upsert_then_dense_and_sparse_search(store: AnyStore) -> None:
    cat = point("t1", "cats", "cats purr and chase mice", unit(1, 0, 0, 0))
    dog = point("t1", "dogs", "dogs bark at the mailman", unit(0, 1, 0, 0))
    both = point("t1", "pets", "cats and dogs as pets", unit(1, 1, 0, 0))
    await store.upsert([cat, dog, both])
    scope = SearchScope(tenant_id="t1")
    assert await store.count(scope) == 3

    dense = await store.search_dense(unit(1, 0.1, 0, 0), scope, limit=2)
    assert [h.id for h in dense] == [cat.id, both.id]
    assert dense[0].score == pytest.approx(float(unit(1, 0.1, 0, 0) @ cat.dense), abs=1e-5)
    assert dense[0].payload["document_id"] == "cats"

    sparse = await store.search_sparse(ENCODER.encode_query("barking dog"), scope, limit=5)
    assert [h.id for h in sparse][0] == dog.id
    assert {h.id for h in sparse} == {dog.id, both.id}
    assert sparse[0].dense is not None
    np.testing.assert_allclose(sparse[0].dense, dog.dense, atol=1e-6)
    bare = await store.search_sparse(ENCODER.encode_query("dog"), scope, 5, with_dense=False)
    assert all(h.dense is None for h in bare)
    assert await store.search_sparse(ENCODER.encode_query("the"), scope, 5) == []


async def test_ids_only_searches_then_fetch_within_the_tenant(store: AnyStore) -> None:
    mine = point("t1", "mine", "cats purr", unit(1, 0, 0, 0), collection="a")
    other = point("t1", "other", "cats nap", unit(0, 1, 0, 0), collection="b")
    theirs = point("t2", "theirs", "cats sleep", unit(1, 0, 0, 0))
    await store.upsert([mine, other, theirs])
    scope = SearchScope(tenant_id="t1")

    dense = await store.search_dense(unit(1, 0, 0, 0), scope, 5, with_payload=False)
    assert [h.id for h in dense][0] == mine.id
    assert all(h.payload == {} and h.dense is None for h in dense)
    sparse = await store.search_sparse(
        ENCODER.encode_query("cats"), scope, 5, with_dense=False, with_payload=False
    )
    assert {h.id for h in sparse} == {mine.id, other.id}
    assert all(h.payload == {} for h in sparse)

    gone = str(uuid.uuid4())
    fetched = await store.fetch([other.id, mine.id, gone, theirs.id], scope, with_dense=True)
    assert {h.id for h in fetched} == {other.id, mine.id}  # gone and other-tenant ids left out
    by_id = {h.id: h for h in fetched}
    assert by_id[mine.id].payload["document_id"] == "mine"
    np.testing.assert_allclose(by_id[mine.id].dense, mine.dense, atol=1e-6)
    bare = await store.fetch([mine.id], SearchScope("t1", collection="b"))
    assert bare == []  # another collection of the tenant
    assert (await store.fetch([other.id], SearchScope("t1", collection="b")))[0].dense is None
    assert await store.fetch([], scope) == []


async def test_upsert_replaces_a_point(store: AnyStore) -> None:
    first = point("t1", "doc", "old words", unit(1, 0, 0, 0))
    await store.upsert([first])
    await store.upsert(
        [ChunkPoint(first.id, unit(0, 0, 1, 0), ENCODER.encode_document("new"), first.payload)]
    )
    assert await store.count(SearchScope(tenant_id="t1")) == 1
    hits = await store.search_sparse(ENCODER.encode_query("new"), SearchScope("t1"), 5)
    assert [h.id for h in hits] == [first.id]


async def test_searches_never_leak_across_tenants_or_collections(
    store: AnyStore,
) -> None:
    text = "kubernetes pod restarts after an out of memory kill"
    vec = unit(0.3, 0.3, 0.3, 0.9)
    a = point("tenant-a", "runbook", text, vec)
    b = point("tenant-b", "runbook", text, vec)
    b_other = point("tenant-b", "notes", text, vec, collection="other")
    await store.upsert([a, b, b_other])
    query = ENCODER.encode_query("pod memory kill")
    for tenant, expected in (("tenant-a", {a.id}), ("tenant-b", {b.id, b_other.id})):
        scope = SearchScope(tenant_id=tenant)
        assert {h.id for h in await store.search_dense(vec, scope, 10)} == expected
        assert {h.id for h in await store.search_sparse(query, scope, 10)} == expected
        assert await store.count(scope) == len(expected)
    nobody = SearchScope(tenant_id="tenant-c")
    assert await store.search_dense(vec, nobody, 10) == []
    assert await store.search_sparse(query, nobody, 10) == []
    in_other = SearchScope(tenant_id="tenant-b", collection="other")
    assert [h.id for h in await store.search_dense(vec, in_other, 10)] == [b_other.id]
    assert [h.id for h in await store.search_sparse(query, in_other, 10)] == [b_other.id]
    only_doc = SearchScope(tenant_id="tenant-b", document_ids=("notes",))
    assert [h.id for h in await store.search_dense(vec, only_doc, 10)] == [b_other.id]
    assert await store.count(SearchScope("tenant-a", document_ids=("notes",))) == 0


async def test_bm25_idf_is_computed_per_tenant(store: AnyStore) -> None:
    vec = unit(1, 0, 0, 0)
    mine = [point("small", f"d{i}", t, vec) for i, t in enumerate(["alpha beta", "gamma"])]
    # Another tenant's corpus is full of "alpha": it must not make "alpha" common for us.
    theirs = [point("big", f"x{i}", "alpha everywhere", vec) for i in range(30)]
    await store.upsert(mine)
    query = ENCODER.encode_query("alpha")
    before = (await store.search_sparse(query, SearchScope("small"), 5))[0].score
    await store.upsert(theirs)
    after = (await store.search_sparse(query, SearchScope("small"), 5))[0].score
    assert after == pytest.approx(before)


async def test_delete_by_version_and_all_but_one(store: AnyStore) -> None:
    vec = unit(0, 0, 1, 0)
    v1 = [point("t", "doc", "first version", vec, version=1) for _ in range(2)]
    v2 = [point("t", "doc", "second version", vec, version=2) for _ in range(3)]
    other = point("t", "keep", "another document", vec)
    foreign = point("u", "doc", "same id, other tenant", vec, version=1)
    await store.upsert([*v1, *v2, other, foreign])
    scope = SearchScope("t")

    await store.delete_document("t", "doc", except_version=2)
    assert await store.count(SearchScope("t", document_ids=("doc",))) == 3
    await store.delete_document("t", "doc", version=2)
    assert await store.count(SearchScope("t", document_ids=("doc",))) == 0
    assert await store.count(scope) == 1
    assert await store.count(SearchScope("u")) == 1  # other tenant untouched
    await store.delete_document("t", "keep")
    assert await store.count(scope) == 0
    with pytest.raises(ValueError):
        await store.delete_document("t", "doc", version=1, except_version=2)


async def test_rejects_points_without_tenant_or_of_wrong_size(store: AnyStore) -> None:
    good = point("t", "doc", "text", unit(1, 0, 0, 0))
    with pytest.raises(VectorStoreError):
        await store.upsert([ChunkPoint(good.id, good.dense, good.sparse, {"text": "x"})])
    with pytest.raises(VectorStoreError):
        await store.upsert([ChunkPoint(good.id, unit(1, 0, 0), good.sparse, good.payload)])


@pytest.mark.parametrize("kind", LOCAL_KINDS)
async def test_local_path_is_locked_until_aclose(tmp_path: Path, kind: str) -> None:
    settings = make_settings(tmp_path)
    first = open_store(kind, settings, "m", DIM)
    await first.ensure_ready(DIM)
    stored = point("t", "doc", "persisted text", unit(1, 2, 3, 4))
    await first.upsert([stored])
    with pytest.raises(VectorStoreError, match=LOCKED[kind]):
        open_store(kind, settings, "m", DIM)
    await first.aclose()
    await first.aclose()  # idempotent

    reopened = open_store(kind, settings, "m", DIM)
    try:
        await reopened.ensure_ready(DIM)
        hits = await reopened.search_dense(unit(1, 2, 3, 4), SearchScope("t"), 5)
        assert [h.id for h in hits] == [stored.id]
    finally:
        await reopened.aclose()


@pytest.mark.parametrize("kind", KINDS)
async def test_switching_models_uses_another_collection(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    settings = kind_settings(kind, tmp_path, request)
    store = open_store(kind, settings, "model-a", DIM)
    await store.ensure_ready(DIM)
    await store.upsert([point("t", "doc", "text", unit(1, 0, 0, 0))])
    await store.aclose()
    other = open_store(kind, settings, "model-b", None)  # size learned at ensure_ready
    try:
        with pytest.raises(VectorStoreError):
            other.name  # noqa: B018 - unknown until ensure_ready
        await other.ensure_ready(8)
        assert other.name == "ragops_chunks__model-b_8"
        assert await other.count(SearchScope("t")) == 0
    finally:
        await other.aclose()


async def test_scan_pages_through_every_point_of_a_tenant(store: AnyStore) -> None:
    vec = unit(1, 1, 0, 0)
    mine = [point("t", f"doc{i}", f"text {i}", vec) for i in range(7)]
    mine[0].payload["written_at"] = 1234.5
    theirs = [point("u", "doc", "other tenant", vec) for _ in range(3)]
    await store.upsert([*mine, *theirs])

    batches = [batch async for batch in store.scan("t", batch=3)]
    assert [len(b) for b in batches] == [3, 3, 1]
    refs = {ref.id: ref for batch in batches for ref in batch}
    assert set(refs) == {p.id for p in mine}
    assert refs[mine[0].id].written_at == 1234.5 and refs[mine[1].id].written_at is None
    assert {(r.tenant_id, r.collection) for r in refs.values()} == {("t", "default")}
    assert refs[mine[3].id].document_id == "doc3"
    everything = [ref async for batch in store.scan() for ref in batch]
    assert len(everything) == 10


async def test_pgvector_store_is_shared_between_open_stores(
    tmp_path: Path, pgvector_url: str
) -> None:
    """What several instances need: two stores open on one database at once, each sees the
    other's writes and deletes at once, and a reopened store finds the data again."""
    settings = make_settings(tmp_path, pgvector_url)
    first, second = (PgVectorStore(settings, model_id="m", dimension=DIM) for _ in range(2))
    await first.ensure_ready(DIM)
    await second.ensure_ready(DIM)
    try:
        stored = point("t", "doc", "shared words", unit(1, 2, 3, 4))
        await first.upsert([stored])
        hits = await second.search_dense(unit(1, 2, 3, 4), SearchScope("t"), 5)
        assert [h.id for h in hits] == [stored.id]
        sparse = await second.search_sparse(ENCODER.encode_query("shared"), SearchScope("t"), 5)
        assert [h.id for h in sparse] == [stored.id]
        await second.delete_document("t", "doc")
        assert await first.count(SearchScope("t")) == 0
        await first.upsert([stored])
    finally:
        await first.aclose()
        await second.aclose()
    with pytest.raises(VectorStoreError, match="closed"):
        await first.ping()
    reopened = PgVectorStore(settings, model_id="m", dimension=None)
    try:
        await reopened.ensure_ready(DIM)
        assert await reopened.count(SearchScope("t")) == 1
    finally:
        await reopened.aclose()


async def test_unreachable_pgvector_is_a_store_error_not_a_hang(tmp_path: Path) -> None:
    """A database that does not answer fails `ensure_ready` with `VectorStoreError` (a 503
    for callers) within the pool timeout; a closed store refuses further calls."""
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nothing"
    settings = Settings(_env_file=None, data_dir=tmp_path, pgvector_url=url, db_pool_timeout=5)
    store = PgVectorStore(settings, model_id="m", dimension=DIM)
    with pytest.raises(VectorStoreError, match="cannot prepare"):
        await store.ensure_ready(DIM)
    await store.aclose()
    with pytest.raises(VectorStoreError, match="closed"):
        await store.count(SearchScope("t"))


def with_units(chunk: ChunkPoint, *units: np.ndarray[Any, np.dtype[np.float32]]) -> ChunkPoint:
    """`chunk` with sentence vectors (one row per unit)."""
    return ChunkPoint(
        id=chunk.id,
        dense=chunk.dense,
        sparse=chunk.sparse,
        payload=chunk.payload,
        sentences=np.stack(units).astype(np.float32),
    )


async def test_sentence_scores_are_each_points_best_unit_within_the_scope(
    store: AnyStore,
) -> None:
    long = with_units(
        point("t1", "long", "many topics", unit(1, 1, 1, 1)),
        unit(1, 0, 0, 0),
        unit(0, 0, 1, 0),
        unit(0.2, 0, 0, 1),
    )
    short = with_units(point("t1", "short", "one topic", unit(0, 1, 0, 0)), unit(0, 1, 0, 0))
    bare = point("t1", "bare", "no units", unit(0, 0, 1, 0))  # ingested without them
    other = with_units(point("t2", "other", "other tenant", unit(0, 0, 1, 0)), unit(0, 0, 1, 0))
    await store.upsert([long, short, bare, other])
    scope = SearchScope(tenant_id="t1")
    question = unit(0.1, 0, 1, 0)
    ids = [long.id, short.id, bare.id, other.id]

    scores = await store.sentence_scores(question, ids, scope)
    assert scores is not None
    assert set(scores) == {long.id, short.id}  # no units, or another tenant's: absent
    best = max(float(question @ row) for row in long.sentences)  # type: ignore[union-attr]
    assert scores[long.id] == pytest.approx(best, abs=1e-4)
    assert scores[long.id] > float(question @ long.dense) + 0.2  # better than the whole
    assert scores[short.id] == pytest.approx(0.0, abs=1e-4)
    assert await store.sentence_scores(question, [short.id], scope) == {
        short.id: pytest.approx(0.0, abs=1e-4)
    }
    assert await store.sentence_scores(question, [], scope) == {}
    assert set(await store.sentence_scores(question, ids, SearchScope("t2")) or {}) == {other.id}

    # Deleting points deletes their sentence vectors; a re-upsert replaces them.
    await store.delete_document("t1", "long")
    await store.delete_points([short.id])
    assert await store.sentence_scores(question, ids, scope) == {}
    if isinstance(store, PgVectorStore):  # the side table's rows went with their points
        conn = await asyncpg.connect(store.dsn)
        try:
            left = await conn.fetch(f'SELECT DISTINCT point_id FROM "{store.table}_sentences"')
        finally:
            await conn.close()
        assert {str(r["point_id"]) for r in left} == {other.id}
    await store.upsert([with_units(long, unit(0, 0, 0, 1))])
    again = await store.sentence_scores(question, [long.id], scope)
    assert again == {long.id: pytest.approx(0.0, abs=1e-4)}
