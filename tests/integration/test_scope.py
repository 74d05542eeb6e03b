"""The scope check on a small corpus, with the real embedder, BM25 encoder and embedded
store: a question about something the collection never mentions loses its passages (so the
answer says nothing was found), one put in the collection's words, or with a typo or a
single word of its own beside a close passage, or two around a close passage's subject, keeps
them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ragops.chat.scope import in_scope
from ragops.config.settings import Settings
from ragops.providers.embedder.onnx_minilm import OnnxMiniLMEmbedder
from ragops.providers.vectorstore import SearchScope
from ragops.providers.vectorstore.factory import create_vector_store
from ragops.retrieval.service import Retriever
from ragops.retrieval.sparse import Bm25Encoder
from tests.integration.test_retriever import chunk

CORPUS = {
    "backups": "Backups run nightly at 02:00 UTC. Restore the database with `ragops backup "
    "restore FILE`; archives are kept for 30 days and checked with `ragops backup verify`.",
    "scaling": "Add instances behind the load balancer to scale out; each instance holds the "
    "embedding model in memory. A bigger instance type helps when memory passes 85 percent.",
    "ingestion": "Plain text, Markdown, HTML and PDF files can be ingested. Each file is cut "
    "into chunks of about 1000 characters that never cross a section heading.",
}
TENANT = "acme"
SCOPE = SearchScope(tenant_id=TENANT, collection="handbook")


@pytest.fixture
async def retriever(tmp_path: Path, onnx_embedder: OnnxMiniLMEmbedder) -> AsyncIterator[Retriever]:
    settings = Settings(_env_file=None, data_dir=tmp_path / "var", score_floor=0.0)
    store = create_vector_store(settings, onnx_embedder)
    await store.ensure_ready(onnx_embedder.dimension)
    built = Retriever(settings, onnx_embedder, store, Bm25Encoder())
    await built.index_chunks([chunk(doc, text) for doc, text in CORPUS.items()])
    try:
        yield built
    finally:
        await store.aclose()


async def kept(retriever: Retriever, question: str) -> list[str]:
    """The documents of the passages the scope check leaves to a question."""
    passages = (await retriever.search(question, SCOPE)).passages
    assert passages, question
    return [p.document_id for p in await in_scope(retriever, SCOPE, question, passages)]


async def test_words_the_collection_never_uses_are_found(retriever: Retriever) -> None:
    uses = await retriever.word_uses(
        ["restore", "restoring", "instances", "sharepoint", "cuda"], SCOPE
    )
    assert [word for word, ids in uses.items() if not ids] == ["sharepoint", "cuda"]
    # another tenant's collection uses none of them
    assert await retriever.word_uses(["restore"], SearchScope("other")) == {"restore": []}


@pytest.mark.parametrize(
    "question",
    [
        "can i ingest excel spreadsheets?",  # two words the collection never uses
        "how do i restore a backup from a tape drive?",
        "does it crawl our sharepoint site?",
        "which gpu does the embedding model need?",  # one, and no passage is close
    ],
)
async def test_a_question_about_something_never_mentioned_is_refused(
    retriever: Retriever, question: str
) -> None:
    assert await kept(retriever, question) == []


@pytest.mark.parametrize(
    "question",
    [
        "How do I restore the database from a backup?",
        "How do I restore the databse from a backup?",  # typos of a passage's word
        "How do I restore the database from a bakcup?",
        "how many characters does each chunk of an ingested file have?",
        # one word of its own ("uploaded"), beside a passage close in meaning
        "how many characters does each chunk of an uploaded file have?",
    ],
)
async def test_a_question_in_the_collections_words_keeps_its_passages(
    retriever: Retriever, question: str
) -> None:
    assert await kept(retriever, question)


async def test_two_words_of_its_own_pass_only_around_a_close_passages_subject(
    retriever: Retriever,
) -> None:
    # "somebody" and "wiped" are words the collection never uses; the backups passage, close
    # in meaning, holds five of the question's words (two per unused word are needed)
    question = "somebody wiped our database; how do i restore it from the nightly backup archives?"
    assert await retriever.word_uses(["somebody", "wiped"], SCOPE) == {"somebody": [], "wiped": []}
    assert "backups" in await kept(retriever, question)
    # "tape" and "drive" beside only two of its words ("restore", "backup"): refused
    assert await kept(retriever, "how do i restore a backup from a tape drive?") == []


async def test_the_bar_of_a_close_passage_is_the_scope_cosine_setting(retriever: Retriever) -> None:
    # one word of its own ("uploaded") passes beside a passage MiniLM puts 0.4 close; no
    # passage is 1.0 close, so with that bar the same word refuses the question
    question = "how many characters does each chunk of an uploaded file have?"
    assert retriever.settings.scope_cosine == 0.4 and await kept(retriever, question)
    retriever.settings = retriever.settings.model_copy(update={"scope_cosine": 1.0})
    assert await kept(retriever, question) == []


async def test_a_word_used_once_in_a_passage_not_retrieved_refuses_without_a_close_passage(
    retriever: Retriever,
) -> None:
    # "markdown" is used by the ingestion passage alone; the question's other words are the
    # backups passage's. With no passage close (a bar of 1.0), given the backups passage only
    # the question is refused; given every passage, that word is held and it is kept.
    retriever.settings = retriever.settings.model_copy(update={"scope_cosine": 1.0})
    question = "are markdown backups kept for 30 days?"
    passages = (await retriever.search(question, SCOPE, top_k=10)).passages
    backups = [p for p in passages if p.document_id == "backups"]
    assert await retriever.word_uses(["markdown"], SCOPE, 2) == {
        "markdown": [p.chunk_id for p in passages if p.document_id == "ingestion"]
    }
    assert await in_scope(retriever, SCOPE, question, backups) == []
    assert await in_scope(retriever, SCOPE, question, passages) == passages
