"""The sentence-level signal (`RAGOPS_SENTENCE_VECTORS`) through the retriever, on every
store (embedded Qdrant Edge, the qdrant-client path in its local mode, pgvector), with the
real ONNX embedder: a question answered by one sentence of a long chunk about many things
ranks that chunk higher with the signal on; dense-only and BM25-only searches are unchanged;
a collection created before the signal existed (no sentence multivector), or chunks ingested
with it off, still answer as before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import qdrant_edge as qe
from qdrant_client import models

from ragops.config.settings import Settings
from ragops.providers.embedder.onnx_minilm import OnnxMiniLMEmbedder
from ragops.providers.vectorstore import SearchScope, VectorStore
from ragops.providers.vectorstore.edge import EdgeVectorStore, shard_config
from ragops.providers.vectorstore.pgvector import PgVectorStore
from ragops.providers.vectorstore.qdrant import DENSE, SPARSE, QdrantVectorStore
from ragops.retrieval.service import ChunkInput, Retriever
from ragops.retrieval.sparse import Bm25Encoder
from ragops.retrieval.units import MAX_UNITS
from tests.integration.handbook import handbook_chunk

KINDS = ("edge", "qdrant-client", "pgvector")
TENANT = "acme"
SCOPE = SearchScope(tenant_id=TENANT, collection="handbook")
# One long chunk about many things; the answer to QUESTION is one sentence in the middle.
LONG = (
    "The office kitchen is cleaned every Friday afternoon by the facilities team. "
    "Parking permits are renewed each January at the front desk. "
    "The quarterly all-hands meeting takes place in the large auditorium on the second floor. "
    "Visitors must sign in at reception and wear a badge at all times. "
    "The printer on the third floor jams when it is given heavy card stock. "
    "New laptops are ordered through the IT portal and arrive within a week. "
    "Bicycles can be stored in the basement rack next to the showers. "
    "The fire alarm is tested on the first Monday of each month at ten o'clock. "
    "Lost property is kept at the security desk for thirty days. "
    "Coffee beans are delivered on Tuesdays and stored in the pantry cupboard. "
    "Meeting rooms are booked through the shared calendar and released after fifteen minutes. "
    "Plants in the lobby are watered by an outside contractor twice a week."
)
OTHERS = {
    "alarms": "Smoke detectors in the data centre trigger an automatic gas suppression "
    "system. Engineers must leave the room when the alarm sounds.",
    "drills": "Evacuation drills are held twice a year. Staff gather at the assembly point in "
    "the car park and wait for the all-clear from the fire wardens.",
    "safety": "Fire extinguishers are inspected annually by a certified contractor. Each floor "
    "has two extinguishers near the stairwells.",
    "security": "Security guards patrol the building at night and check that every emergency "
    "exit is closed and unobstructed.",
    "maintenance": "Building maintenance requests are filed in the facilities portal. Urgent "
    "issues such as water leaks are handled within four hours.",
}
QUESTION = "how often is the fire alarm checked"


def chunk(doc: str, text: str) -> ChunkInput:
    return handbook_chunk(TENANT, doc, text)


CHUNKS = [chunk("office", LONG), *(chunk(doc, text) for doc, text in OTHERS.items())]


def settings_for(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    url = request.getfixturevalue("pgvector_url") if kind == "pgvector" else None
    return Settings(
        _env_file=None, data_dir=tmp_path / "var", pgvector_url=url, sentence_vectors=True
    )


def open_store(kind: str, settings: Settings, embedder: OnnxMiniLMEmbedder) -> VectorStore:
    model, size = embedder.model_id, embedder.dimension
    if kind == "edge":
        return EdgeVectorStore(settings, model_id=model, dimension=size)
    if kind == "pgvector":
        return PgVectorStore(settings, model_id=model, dimension=size)
    return QdrantVectorStore(settings, model_id=model, dimension=size)


def retriever(
    settings: Settings, embedder: OnnxMiniLMEmbedder, store: VectorStore, on: bool
) -> Retriever:
    flagged = settings.model_copy(update={"sentence_vectors": on})
    return Retriever(flagged, embedder, store, Bm25Encoder())


def ranking(found: Any) -> list[str]:
    return [p.document_id for p in found.passages]


@pytest.fixture(params=KINDS)
async def indexed(
    tmp_path: Path, onnx_embedder: OnnxMiniLMEmbedder, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Settings, VectorStore]]:
    """A store holding CHUNKS ingested with the signal on."""
    settings = settings_for(request.param, tmp_path, request)
    store = open_store(request.param, settings, onnx_embedder)
    await store.ensure_ready(onnx_embedder.dimension)
    assert store.holds_sentences
    await retriever(settings, onnx_embedder, store, True).index_chunks(CHUNKS)
    try:
        yield settings, store
    finally:
        await store.aclose()


async def test_one_sentence_answer_ranks_its_long_chunk_higher(
    indexed: tuple[Settings, VectorStore], onnx_embedder: OnnxMiniLMEmbedder
) -> None:
    settings, store = indexed
    off = await retriever(settings, onnx_embedder, store, False).search(QUESTION, SCOPE, top_k=10)
    on = await retriever(settings, onnx_embedder, store, True).search(QUESTION, SCOPE, top_k=10)
    assert ranking(on).index("office") < ranking(off).index("office"), (ranking(off), ranking(on))
    # The passages and their cosines are the same; only the order moved.
    assert sorted(ranking(on)) == sorted(ranking(off))
    assert {p.document_id: p.score for p in on.passages} == pytest.approx(
        {p.document_id: p.score for p in off.passages}
    )
    for mode in ("dense", "bm25"):  # single-list searches ignore the signal
        alone = await retriever(settings, onnx_embedder, store, False).search(
            QUESTION, SCOPE, top_k=10, mode=mode
        )
        with_it = await retriever(settings, onnx_embedder, store, True).search(
            QUESTION, SCOPE, top_k=10, mode=mode
        )
        assert ranking(with_it) == ranking(alone), mode


async def test_chunks_ingested_without_units_answer_as_before(
    tmp_path: Path, onnx_embedder: OnnxMiniLMEmbedder, request: pytest.FixtureRequest
) -> None:
    """pgvector (and a Qdrant collection with the multivector): chunks written with the
    signal off hold no sentence vectors, and searching with it on ranks them as off does."""
    settings = settings_for("pgvector", tmp_path, request)
    store = open_store("pgvector", settings, onnx_embedder)
    await store.ensure_ready(onnx_embedder.dimension)
    try:
        await retriever(settings, onnx_embedder, store, False).index_chunks(CHUNKS)
        off = await retriever(settings, onnx_embedder, store, False).search(QUESTION, SCOPE)
        on = await retriever(settings, onnx_embedder, store, True).search(QUESTION, SCOPE)
        assert ranking(off) and ranking(on) == ranking(off)
        question = await onnx_embedder.embed_query(QUESTION)
        assert await store.sentence_scores(question, [c.id for c in CHUNKS], SCOPE) == {}
    finally:
        await store.aclose()


@pytest.mark.parametrize("kind", ["edge", "qdrant-client"])
async def test_a_collection_created_before_the_signal_still_answers(
    kind: str, tmp_path: Path, onnx_embedder: OnnxMiniLMEmbedder, request: pytest.FixtureRequest
) -> None:
    """A shard or collection laid out without the sentence multivector opens, takes new
    chunks (their units are not stored) and answers with the signal on as with it off."""
    settings = settings_for(kind, tmp_path, request)
    store = open_store(kind, settings, onnx_embedder)
    size = onnx_embedder.dimension
    if isinstance(store, EdgeVectorStore):
        old = qe.EdgeShard.create(str(store.path), shard_config(size, sentences=False))
        old.close()
    else:
        assert isinstance(store, QdrantVectorStore)
        await store.client.create_collection(
            store.name,
            vectors_config={DENSE: models.VectorParams(size=size, distance=models.Distance.COSINE)},
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
        )
    await store.ensure_ready(size)
    try:
        assert not store.holds_sentences
        on_old = retriever(settings, onnx_embedder, store, True)
        assert all(p.sentences is None for p in await on_old.build_points(CHUNKS))  # none made
        await on_old.index_chunks(CHUNKS)
        question = await onnx_embedder.embed_query(QUESTION)
        assert await store.sentence_scores(question, [CHUNKS[0].id], SCOPE) is None
        off = await retriever(settings, onnx_embedder, store, False).search(QUESTION, SCOPE)
        on = await retriever(settings, onnx_embedder, store, True).search(QUESTION, SCOPE)
        assert "office" in ranking(off) and ranking(on) == ranking(off)
    finally:
        await store.aclose()


async def test_an_edge_shard_created_with_the_setting_off_keeps_the_earlier_layout(
    tmp_path: Path, onnx_embedder: OnnxMiniLMEmbedder
) -> None:
    """The default creates the shard an earlier release creates (and can open again, on a
    rollback): no sentence multivector; turning the setting on later changes nothing there."""
    settings = Settings(_env_file=None, data_dir=tmp_path / "var")
    store = open_store("edge", settings, onnx_embedder)
    await store.ensure_ready(onnx_embedder.dimension)
    assert isinstance(store, EdgeVectorStore)
    path = store.path
    await store.aclose()
    earlier = qe.EdgeShard.load(str(path), shard_config(onnx_embedder.dimension, sentences=False))
    earlier.close()
    store = open_store(
        "edge", settings.model_copy(update={"sentence_vectors": True}), onnx_embedder
    )
    await store.ensure_ready(onnx_embedder.dimension)
    try:
        await retriever(settings, onnx_embedder, store, True).index_chunks(CHUNKS)
        question = await onnx_embedder.embed_query(QUESTION)
        assert await store.sentence_scores(question, [CHUNKS[0].id], SCOPE) is None
        assert "office" in ranking(
            await retriever(settings, onnx_embedder, store, True).search(QUESTION, SCOPE)
        )
    finally:
        await store.aclose()


async def test_units_are_the_title_then_the_sentences_at_most_max_units(
    tmp_path: Path, onnx_embedder: OnnxMiniLMEmbedder
) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "var", sentence_vectors=True)
    store = open_store("edge", settings, onnx_embedder)
    await store.ensure_ready(onnx_embedder.dimension)
    try:
        built = Retriever(settings, onnx_embedder, store, Bm25Encoder())
        many = " ".join(f"Step {n} turns knob {n}." for n in range(1, 60))
        listed = "Before you start:\n- stop the worker\n- drain the queue.\n\nThen restart it."
        points = await built.build_points(
            [chunk("office", LONG), chunk("steps", many), chunk("listed", listed)]
        )
        office, steps, items = (p.sentences for p in points)
        assert office is not None and office.shape == (1 + 12, onnx_embedder.dimension)
        title = await onnx_embedder.embed_documents(["Office"])
        assert float(office[0] @ title[0]) == pytest.approx(1.0, abs=1e-4)
        assert steps is not None and steps.shape[0] == MAX_UNITS
        assert items is not None and items.shape[0] == 1 + 4  # a list item is a unit
        off = Retriever(
            settings.model_copy(update={"sentence_vectors": False}), onnx_embedder, store
        )
        assert (await off.build_points([chunk("office", LONG)]))[0].sentences is None
    finally:
        await store.aclose()


async def test_the_sentence_floor_experiment_still_needs_one_passage_over_the_floor(
    indexed: tuple[Settings, VectorStore], onnx_embedder: OnnxMiniLMEmbedder
) -> None:
    """`Retriever.sentence_floor` (a benchmark experiment): the long chunk, under the floor by
    its whole cosine, passes on its best sentence; with no passage over the floor on its own
    cosine, nothing passes."""
    settings, store = indexed
    question = await onnx_embedder.embed_query(QUESTION)
    office = CHUNKS[0].id
    whole = float(question @ (await store.fetch([office], SCOPE, with_dense=True))[0].dense)  # type: ignore[operator]
    best = (await store.sentence_scores(question, [office], SCOPE) or {})[office]
    assert best > whole + 0.2

    def searcher(floor: float, experiment: bool) -> Retriever:
        flagged = settings.model_copy(update={"score_floor": floor})
        built = retriever(flagged, onnx_embedder, store, True)
        built.sentence_floor = experiment
        return built

    floor = whole + 0.05  # some other passage passes on its own cosine
    plain = ranking(await searcher(floor, False).search(QUESTION, SCOPE, top_k=10))
    tried = await searcher(floor, True).search(QUESTION, SCOPE, top_k=10)
    assert plain and "office" not in plain
    assert "office" in ranking(tried) and set(plain) < set(ranking(tried))
    kept = {p.document_id: p.score for p in tried.passages}
    assert kept["office"] == pytest.approx(whole, abs=1e-4)  # its score stays the whole cosine
    top = max(p.score for p in tried.passages)
    assert (await searcher(top + 0.01, True).search(QUESTION, SCOPE, top_k=10)).passages == []


async def test_the_setting_on_a_shard_without_the_vector_is_a_warning_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An operator who turns the setting on over the default shard (created without the
    sentence multivector) is told at start-up that it has no effect, instead of paying for
    unit embeddings that the store would drop."""
    import logging

    from ragops.db import migrate
    from ragops.runtime import Runtime

    settings = Settings(_env_file=None, data_dir=tmp_path / "var", demo_corpus=False)
    await migrate.upgrade(settings)
    runtime = await Runtime.start(settings)
    await runtime.aclose()
    with caplog.at_level(logging.WARNING, logger="ragops.runtime"):
        runtime = await Runtime.start(settings.model_copy(update={"sentence_vectors": True}))
        try:
            assert not runtime.store.holds_sentences
        finally:
            await runtime.aclose()
    assert any("RAGOPS_SENTENCE_VECTORS is on" in r.getMessage() for r in caplog.records)
