"""The retriever end to end on a small corpus: real ONNX embedder, BM25 encoder and each
shared-capable store: the embedded Qdrant Edge store (the default) and pgvector. Hybrid search
finds the right passage; an unrelated question finds nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ragops.config.settings import Settings
from ragops.providers.embedder.onnx_minilm import OnnxMiniLMEmbedder
from ragops.providers.vectorstore import SearchScope
from ragops.providers.vectorstore.edge import EdgeVectorStore
from ragops.providers.vectorstore.factory import create_vector_store
from ragops.providers.vectorstore.pgvector import PgVectorStore
from ragops.retrieval.rerank import LexicalReranker
from ragops.retrieval.service import ChunkInput, Retriever
from ragops.retrieval.sparse import Bm25Encoder
from tests.integration.handbook import handbook_chunk

CORPUS = {
    "backup": "Backups run nightly at 02:00 UTC. Restore a database with `ragops restore "
    "--snapshot <id>`; snapshots are kept for 30 days in the object store.",
    "oncall": "The on-call engineer is paged by Alertmanager when the error budget burns "
    "faster than 2% per hour. Acknowledge the page within 15 minutes.",
    "tls": "Certificates are renewed automatically by cert-manager 30 days before expiry. "
    "If renewal fails, the ingress serves the old certificate until it expires.",
    "vacation": "Employees accrue 2.5 days of paid vacation per month. Requests go to the "
    "manager at least two weeks in advance.",
    "errcode": "Error E4711 means the upload exceeded the size limit; raise "
    "RAGOPS_MAX_UPLOAD_BYTES or split the file.",
}
TENANT = "acme"
STORES = {"edge": EdgeVectorStore, "pgvector": PgVectorStore}


def chunk(doc: str, text: str, tenant: str = TENANT) -> ChunkInput:
    return handbook_chunk(tenant, doc, text, section="Overview")


@pytest.fixture(params=["edge", "pgvector"])
async def retriever(
    tmp_path: Path, onnx_embedder: OnnxMiniLMEmbedder, request: pytest.FixtureRequest
) -> AsyncIterator[Retriever]:
    url = request.getfixturevalue("pgvector_url") if request.param == "pgvector" else None
    settings = Settings(_env_file=None, data_dir=tmp_path / "var", pgvector_url=url)
    store = create_vector_store(settings, onnx_embedder)
    assert type(store) is STORES[request.param]
    await store.ensure_ready(onnx_embedder.dimension)
    built = Retriever(settings, onnx_embedder, store, Bm25Encoder())
    stored = await built.index_chunks([chunk(doc, text) for doc, text in CORPUS.items()])
    assert stored == len(CORPUS)
    try:
        yield built
    finally:
        await store.aclose()


SCOPE = SearchScope(tenant_id=TENANT, collection="handbook")


async def test_build_points_embeds_and_encodes(retriever: Retriever) -> None:
    points = await retriever.build_points([chunk("x", "Alpha beta gamma.")])
    assert points[0].dense.shape == (384,)
    assert points[0].sparse.indices and len(points[0].sparse.values) == 3 + 1  # + title
    assert points[0].payload["document_id"] == "x"
    assert await retriever.build_points([]) == []


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How do I restore the database from a backup?", "backup"),
        ("who gets paged when errors spike", "oncall"),
        ("what happens when certificate renewal fails", "tls"),
        ("E4711", "errcode"),  # an exact code: BM25's job
    ],
)
async def test_hybrid_finds_the_right_passage(
    retriever: Retriever, question: str, expected: str
) -> None:
    result = await retriever.search(question, SCOPE)
    assert result.passages, question
    top = result.passages[0]
    assert top.document_id == expected
    assert top.text == CORPUS[expected]
    assert top.title == expected.title() and top.version == 1 and top.end == len(top.text)
    assert result.embed_ms > 0 and result.retrieve_ms >= 0
    scores = [p.score for p in result.passages]
    assert all(s >= retriever.settings.score_floor for s in scores)
    fused = [p.fused_score for p in result.passages]
    assert fused == sorted(fused, reverse=True)


async def test_unrelated_question_returns_no_passages(retriever: Retriever) -> None:
    for question in ("What is the capital of France?", "Best recipe for banana bread"):
        result = await retriever.search(question, SCOPE)
        assert result.passages == [], [(p.document_id, p.score) for p in result.passages]
        assert result.candidates > 0  # candidates were found, and all fell below the floor


async def test_modes_and_top_k(retriever: Retriever) -> None:
    question = "How are certificates renewed before expiry?"
    for mode in ("dense", "bm25", "hybrid"):
        result = await retriever.search(question, SCOPE, mode=mode, top_k=1)
        assert [p.document_id for p in result.passages] == ["tls"], mode
    bm25 = await retriever.search("E4711", SCOPE, mode="bm25")
    # a passage found by BM25 alone still gets its dense cosine as score
    assert bm25.passages and -1.0 <= bm25.passages[0].score <= 1.0
    assert bm25.passages[0].score != bm25.passages[0].fused_score


async def test_other_tenants_and_collections_see_nothing(retriever: Retriever) -> None:
    question = "How do I restore the database from a backup?"
    for scope in (SearchScope("other"), SearchScope(TENANT, collection="elsewhere")):
        assert (await retriever.search(question, scope)).passages == []
    await retriever.index_chunks([chunk("backup", "Other tenant's backup notes", "other")])
    mine = await retriever.search(question, SCOPE, top_k=10)
    assert all(p.payload["tenant_id"] == TENANT for p in mine.passages)


async def test_lexical_reranker_keeps_the_answer_on_top(retriever: Retriever) -> None:
    reranking = Retriever(
        retriever.settings, retriever.embedder, retriever.store, reranker=LexicalReranker()
    )
    result = await reranking.search("restore database snapshot", SCOPE)
    assert result.passages[0].document_id == "backup"


async def test_unused_words_are_those_no_chunk_of_the_scope_uses(retriever: Retriever) -> None:
    uses = await retriever.word_uses(["restored", "kelvin", "certificates", "sharepoint"], SCOPE)
    assert [word for word, ids in uses.items() if not ids] == ["kelvin", "sharepoint"]
    assert await retriever.word_uses(["restore"], SearchScope("other")) == {"restore": []}


async def test_word_uses_are_the_chunks_using_each_word_up_to_a_number(
    retriever: Retriever,
) -> None:
    # "days" is in three chunks (backup, tls, vacation), "renewed" in the tls one alone
    uses = await retriever.word_uses(["days", "renewed", "sharepoint"], SCOPE, 2)
    assert len(uses["days"]) == 2
    assert uses["renewed"] == [handbook_chunk(TENANT, "tls", "").id]
    assert uses["sharepoint"] == []
    assert len((await retriever.word_uses(["days"], SCOPE, 5))["days"]) == 3
