"""A second embedder beside the first (`RAGOPS_SECOND_EMBEDDER=bge-small`) on every store
(embedded Qdrant Edge, the qdrant-client path in its local mode, pgvector): the store keeps a
second dense vector per point only in a collection created with the setting on, searches and
returns it; the retriever, with the real MiniLM and bge models, embeds chunks and questions
with both, fuses three rankings and keeps a passage over either floor, so a passage only the
second embedder finds close enough is returned with the setting on and not with it off; a
collection created before the setting keeps answering with two lists after one warning; the
reindex the docs prescribe; pgvector serves the second search from its own HNSW index."""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ragops.config.settings import Settings
from ragops.providers.embedder.onnx_bge import OnnxBgeSecondEmbedder
from ragops.providers.embedder.onnx_minilm import OnnxMiniLMEmbedder
from ragops.providers.vectorstore import ChunkPoint, SearchScope, VectorStore
from ragops.providers.vectorstore.base import VectorStoreError
from ragops.providers.vectorstore.edge import EdgeVectorStore
from ragops.providers.vectorstore.pgvector import PgVectorStore
from ragops.providers.vectorstore.qdrant import QdrantVectorStore
from ragops.retrieval.service import ChunkInput, Retriever
from ragops.retrieval.sparse import Bm25Encoder
from tests.fakes.qdrant_server import QdrantRestServer
from tests.integration.handbook import handbook_chunk

KINDS = ("edge", "qdrant-client", "pgvector")
TENANT = "acme"
SCOPE = SearchScope(tenant_id=TENANT, collection="handbook")
ENCODER = Bm25Encoder(avg_len=5.0)
DIM = 4
SECOND_DIM = 384
DOCS = {
    "kiln": "The kiln is fired slowly overnight so that moisture leaves the clay without "
    "cracking the pots.",
    "invoice": "Supplier invoices are settled within thirty days of receipt by bank transfer.",
    "badge": "Visitors collect a temporary pass at reception and return it when they leave.",
    "roof": "The flat roof is inspected each autumn for blocked gutters and loose membrane.",
    "server": "Rack servers are patched on the second Tuesday of each month during the "
    "maintenance window.",
}
# No word in common with any chunk; MiniLM puts "invoice" at about 0.26, bge at about 0.64
# (every other chunk under 0.5 on bge, under 0.1 on MiniLM).
QUESTION = "net terms for creditors"
FLOORS = {"score_floor": 0.3, "second_score_floor": 0.6}


@pytest.fixture(scope="module")
def bge() -> Iterator[OnnxBgeSecondEmbedder]:
    """The real bge-small model as the second embedder, loaded once for the module."""
    embedder = OnnxBgeSecondEmbedder(batch_size=16)
    embedder.load()
    yield embedder


def settings_for(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, *, on: bool
) -> Settings:
    url = request.getfixturevalue("pgvector_url") if kind == "pgvector" else None
    second = "bge-small" if on else "none"
    return Settings(
        _env_file=None, data_dir=tmp_path / "var", pgvector_url=url, second_embedder=second
    )


def open_store(kind: str, settings: Settings, dimension: int) -> VectorStore:
    if kind == "edge":
        return EdgeVectorStore(settings, model_id="test-model", dimension=dimension)
    if kind == "pgvector":
        return PgVectorStore(settings, model_id="test-model", dimension=dimension)
    return QdrantVectorStore(settings, model_id="test-model", dimension=dimension)


def unit(rng: np.random.Generator, size: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    vector = rng.standard_normal(size).astype(np.float32)
    return vector / np.linalg.norm(vector)


def point(doc: str, dense: Any, second: Any) -> ChunkPoint:
    return ChunkPoint(
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{TENANT}/{doc}")),
        dense=dense,
        sparse=ENCODER.encode_document(f"words of {doc}"),
        payload={"tenant_id": TENANT, "collection": "handbook", "document_id": doc},
        second=second,
    )


# --- the store contract ------------------------------------------------------------------


@pytest.mark.parametrize("kind", (*KINDS, "qdrant-rest"))
async def test_a_collection_created_with_the_setting_keeps_and_searches_the_second_vector(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """On every store; "qdrant-rest" is qdrant-client's server path over HTTP to a Qdrant
    REST server on loopback (tests/fakes/qdrant_server.py)."""
    rng = np.random.default_rng(7)
    seconds = {doc: unit(rng, SECOND_DIM) for doc in ("a", "b", "c")}
    server = QdrantRestServer().start() if kind == "qdrant-rest" else None
    settings = settings_for(kind, tmp_path, request, on=True)
    if server is not None:
        settings = settings.model_copy(update={"qdrant_url": server.url})
    store = open_store(kind, settings, DIM)
    try:
        await store.ensure_ready(DIM)
        assert store.holds_second
        points = [point(doc, unit(rng, DIM), vector) for doc, vector in seconds.items()]
        points.append(point("plain", unit(rng, DIM), None))  # written without one
        await store.upsert(points)
        ids = {p.payload["document_id"]: p.id for p in points}

        # The second vector is searched by itself: each point's own vector finds it first,
        # with cosine 1; a point without a second vector is never a second-vector hit.
        for doc, vector in seconds.items():
            hits = await store.search_dense(vector, SCOPE, 10, with_payload=False, second=True)
            assert hits[0].id == ids[doc] and hits[0].score == pytest.approx(1.0, abs=1e-5)
            assert ids["plain"] not in {hit.id for hit in hits}
            assert len(hits) == 3
        # The first vector is untouched and still holds every point.
        dense = await store.search_dense(points[3].dense, SCOPE, 10, with_payload=False)
        assert dense[0].id == ids["plain"] and len(dense) == 4

        fetched = {
            hit.id: hit for hit in await store.fetch(list(ids.values()), SCOPE, with_second=True)
        }
        for doc, vector in seconds.items():
            got = fetched[ids[doc]].second
            assert got is not None and np.allclose(got, vector, atol=1e-5)
        assert fetched[ids["plain"]].second is None
        plain_fetch = await store.fetch([ids["a"]], SCOPE)
        assert plain_fetch[0].second is None and plain_fetch[0].dense is None
        # Other tenants see nothing of it.
        other = SearchScope(tenant_id="globex")
        assert await store.search_dense(seconds["a"], other, 10, second=True) == []
    finally:
        await store.aclose()
        if server is not None:
            server.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_a_collection_created_without_the_setting_never_gains_the_vector(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    rng = np.random.default_rng(8)
    store = open_store(kind, settings_for(kind, tmp_path, request, on=False), DIM)
    try:
        await store.ensure_ready(DIM)
        assert not store.holds_second
        kept = point("a", unit(rng, DIM), unit(rng, SECOND_DIM))
        await store.upsert([kept])  # the second vector is dropped, the point kept
        with pytest.raises(VectorStoreError, match="second"):
            await store.search_dense(unit(rng, SECOND_DIM), SCOPE, 10, second=True)
        hits = await store.fetch([kept.id], SCOPE, with_second=True)
        assert [hit.second for hit in hits] == [None]
    finally:
        await store.aclose()
    if kind == "pgvector":
        return  # a shared database: reopened below by the local stores only
    # Reopened with the setting on, it keeps the layout it was created with.
    store = open_store(kind, settings_for(kind, tmp_path, request, on=True), DIM)
    try:
        await store.ensure_ready(DIM)
        assert not store.holds_second
        assert len(await store.search_dense(kept.dense, SCOPE, 10)) == 1
    finally:
        await store.aclose()


@pytest.mark.parametrize("kind", ("edge", "qdrant-client"))
async def test_a_collection_with_the_vector_reopens_with_it_whatever_the_setting(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    rng = np.random.default_rng(9)
    kept = point("a", unit(rng, DIM), unit(rng, SECOND_DIM))
    store = open_store(kind, settings_for(kind, tmp_path, request, on=True), DIM)
    await store.ensure_ready(DIM)
    await store.upsert([kept])
    await store.aclose()
    for on in (True, False):
        store = open_store(kind, settings_for(kind, tmp_path, request, on=on), DIM)
        try:
            await store.ensure_ready(DIM)
            assert store.holds_second
            hits = await store.search_dense(kept.second, SCOPE, 10, second=True)
            assert [hit.id for hit in hits] == [kept.id]
        finally:
            await store.aclose()


async def test_a_pgvector_table_created_without_the_setting_stays_so(
    pgvector_url: str, tmp_path: Path
) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "var", pgvector_url=pgvector_url)
    store = PgVectorStore(settings, model_id="test-model", dimension=DIM)
    await store.ensure_ready(DIM)
    await store.aclose()
    on = settings.model_copy(update={"second_embedder": "bge-small"})
    store = PgVectorStore(on, model_id="test-model", dimension=DIM)
    try:
        await store.ensure_ready(DIM)
        assert not store.holds_second
    finally:
        await store.aclose()


# --- through the retriever, with the real models -----------------------------------------


def chunk(doc: str, text: str) -> ChunkInput:
    return handbook_chunk(TENANT, doc, text)


CHUNKS = [chunk(doc, text) for doc, text in DOCS.items()]


@pytest.fixture(params=KINDS)
async def indexed(
    tmp_path: Path,
    onnx_embedder: OnnxMiniLMEmbedder,
    bge: OnnxBgeSecondEmbedder,
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[Settings, VectorStore]]:
    """A store holding CHUNKS indexed with the second embedder on."""
    settings = settings_for(request.param, tmp_path, request, on=True)
    settings = settings.model_copy(update=FLOORS)
    store = open_store(request.param, settings, onnx_embedder.dimension)
    await store.ensure_ready(onnx_embedder.dimension)
    retriever = Retriever(settings, onnx_embedder, store, Bm25Encoder(), second=bge)
    await retriever.index_chunks(CHUNKS)
    try:
        yield settings, store
    finally:
        await store.aclose()


async def test_a_passage_only_the_second_embedder_finds_close_is_returned_with_it_on(
    indexed: tuple[Settings, VectorStore],
    onnx_embedder: OnnxMiniLMEmbedder,
    bge: OnnxBgeSecondEmbedder,
) -> None:
    settings, store = indexed
    off = Retriever(settings, onnx_embedder, store, Bm25Encoder())
    assert (await off.search(QUESTION, SCOPE)).passages == []  # no MiniLM cosine reaches 0.3

    on = Retriever(settings, onnx_embedder, store, Bm25Encoder(), second=bge)
    found = await on.search(QUESTION, SCOPE)
    assert [p.document_id for p in found.passages] == ["invoice"]
    passage = found.passages[0]
    # `score` stays MiniLM's cosine, under its floor; the second cosine is what kept it.
    assert passage.score < settings.score_floor
    assert passage.second_score is not None
    assert passage.second_score >= settings.second_score_floor
    # A question both models find close keeps its passage first, with both cosines.
    roof = await on.search("seasonal examination of rooftop", SCOPE)
    assert roof.passages[0].document_id == "roof"
    assert roof.passages[0].score >= settings.score_floor
    # Dense-only and BM25-only searches stay the first embedder's and BM25's.
    dense = await on.search(QUESTION, SCOPE, mode="dense")
    assert dense.passages == [] and dense.candidates == len(DOCS)


async def test_chunks_written_by_an_ingest_with_the_setting_carry_both_vectors(
    indexed: tuple[Settings, VectorStore], bge: OnnxBgeSecondEmbedder
) -> None:
    _, store = indexed
    wanted = {c.id: c for c in CHUNKS}
    hits = await store.fetch(list(wanted), SCOPE, with_dense=True, with_second=True)
    assert len(hits) == len(CHUNKS)
    for hit in hits:
        assert hit.dense is not None and hit.second is not None
        again = await bge.embed_documents([wanted[hit.id].index_text()])
        assert float(np.dot(hit.second, again[0])) > 0.99  # bge's own passage vector


async def test_an_old_collection_answers_with_two_lists_after_one_warning(
    tmp_path: Path,
    onnx_embedder: OnnxMiniLMEmbedder,
    bge: OnnxBgeSecondEmbedder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    base = Settings(_env_file=None, data_dir=tmp_path / "var")
    store = EdgeVectorStore(base, model_id=onnx_embedder.model_id, dimension=384)
    await store.ensure_ready(384)
    await Retriever(base, onnx_embedder, store, Bm25Encoder()).index_chunks(CHUNKS)
    await store.aclose()

    on = base.model_copy(update={"second_embedder": "bge-small"})
    store = EdgeVectorStore(on, model_id=onnx_embedder.model_id, dimension=384)
    await store.ensure_ready(384)
    try:
        assert not store.holds_second
        two = Retriever(base, onnx_embedder, store, Bm25Encoder())
        three = Retriever(on, onnx_embedder, store, Bm25Encoder(), second=bge)
        with caplog.at_level(logging.WARNING, logger="ragops.retrieval.service"):
            for question in ("seasonal examination of rooftop", "kiln firing pace"):
                want = await two.search(question, SCOPE)
                got = await three.search(question, SCOPE)
                assert [p.point_id for p in got.passages] == [p.point_id for p in want.passages]
                assert got.passages and all(p.second_score is None for p in got.passages)
            await three.index_chunks(CHUNKS[:1])  # ingestion goes on, without second vectors
        warnings = [r.getMessage() for r in caplog.records if "SECOND_EMBEDDER" in r.getMessage()]
        assert len(warnings) == 1
        assert "reindex" in warnings[0] and "move the collection aside" in warnings[0]
    finally:
        await store.aclose()


# --- the runtime: ingestion, the start-up warning and the reindex the docs prescribe --------


async def test_turning_it_on_is_a_move_aside_and_a_reindex(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An operator turns the setting on over a store created without it: told once at
    start-up and by the reindex; after moving the shard aside, the reindex writes both
    vectors of every chunk and the three-list search answers."""
    from ragops.db import migrate
    from ragops.documents import service as documents
    from ragops.documents.reindex import reindex
    from ragops.runtime import Runtime

    off = Settings(_env_file=None, data_dir=tmp_path / "var", demo_corpus=False)
    on = off.model_copy(update={"second_embedder": "bge-small"})
    await migrate.upgrade(off)
    runtime = await Runtime.start(off)
    try:
        for doc, text in DOCS.items():
            await documents.ingest_bytes(
                runtime.ingest_deps,
                tenant_id=TENANT,
                collection="handbook",
                source=f"{doc}.md",
                data=f"# {doc.title()}\n\n{text}\n".encode(),
            )
    finally:
        await runtime.aclose()

    with caplog.at_level(logging.WARNING, logger="ragops.retrieval.service"):
        runtime = await Runtime.start(on)
    try:
        assert not runtime.store.holds_second
        assert sum("SECOND_EMBEDDER" in r.getMessage() for r in caplog.records) == 1
        result = await reindex(runtime.ingest_deps, tenant_id=TENANT)
        assert not result.second_vectors
        assert result.warning is not None and "'Two embedders'" in result.warning
    finally:
        await runtime.aclose()

    shutil.move(tmp_path / "var" / "edge", tmp_path / "edge-aside")
    runtime = await Runtime.start(on)
    try:
        assert runtime.store.holds_second
        result = await reindex(runtime.ingest_deps, tenant_id=TENANT)
        assert result.second_vectors and result.warning is None
        assert result.chunks == len(DOCS)
        scope = SearchScope(tenant_id=TENANT, collection="handbook")
        roof = await runtime.retriever.search("seasonal examination of rooftop", scope)
        assert roof.passages[0].document_id and roof.passages[0].second_score is not None
        assert "roof" in roof.passages[0].text
    finally:
        await runtime.aclose()


async def test_a_large_tenant_searches_the_second_vector_through_its_hnsw_index(
    pgvector_url: str, tmp_path: Path
) -> None:
    """pgvector: the second vector's search (`dense_query` on `dense_second`) is served by its
    own HNSW index for a tenant holding a large share of the table, as the first's is."""
    import asyncpg

    from ragops.providers.vectorstore.pgvector_sql import asyncpg_dsn, dense_query

    settings = Settings(
        _env_file=None,
        data_dir=tmp_path / "var",
        pgvector_url=pgvector_url,
        second_embedder="bge-small",
    )
    store = PgVectorStore(settings, model_id="plans", dimension=DIM)
    await store.ensure_ready(DIM)
    await store.aclose()
    table = store.table
    conn = await asyncpg.connect(asyncpg_dsn(pgvector_url))
    try:
        await conn.execute(f'DROP INDEX "{table}_hnsw_second"')  # built once, after the rows
        await conn.execute(
            f'INSERT INTO "{table}" (id, tenant_id, collection, document_id, version, dense, '
            "dense_second, payload) SELECT md5(i::text)::uuid, "
            "CASE WHEN i % 3 = 0 THEN 'big' ELSE 't' || (i % 50) END, 'c', 'd' || i, 1, "
            f"(SELECT array_agg(random())::real[] FROM generate_series(1, {DIM}) WHERE i >= 0)"
            "::vector, (SELECT array_agg(random())::real[] FROM generate_series(1, "
            f"{SECOND_DIM}) WHERE i >= 0)::vector, '{{}}'::jsonb FROM generate_series(0, 2999) i"
        )
        await conn.execute(
            f'CREATE INDEX "{table}_hnsw_second" ON "{table}" '
            "USING hnsw (dense_second vector_cosine_ops)"
        )
        await conn.execute(f'ANALYZE "{table}"')
        sql, values = dense_query(table, SearchScope("big"), 10, column="dense_second")
        query = "[" + ",".join("0.5" for _ in range(SECOND_DIM)) + "]"
        rows = await conn.fetch(
            f"EXPLAIN (FORMAT JSON) {sql.replace('$1', '$1::vector')}", query, *values
        )
        assert f"{table}_hnsw_second" in rows[0][0], rows[0][0]
    finally:
        await conn.close()
