"""The running service's components, built once from settings and shared by the API, the CLI
and (later) the runbooks: database, embedder, vector store, retriever, LLM, cache.

Nothing here is per-process state a second instance would need: the database, the vector store
and (when configured) Redis hold it all.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from ragops.cache.embeddings import MemoEmbedder
from ragops.cache.factory import create_answer_cache
from ragops.cache.service import AnswerCache
from ragops.chat.generation import Generator
from ragops.chat.service import ChatDeps
from ragops.chat.turns import TurnWriter
from ragops.config import Settings
from ragops.db import Database
from ragops.documents.budget import IngestQuota
from ragops.documents.service import IngestDeps
from ragops.providers.cache import Cache
from ragops.providers.cache.factory import create_cache
from ragops.providers.embedder import Embedder
from ragops.providers.embedder.factory import (
    create_embedder,
    create_second_embedder,
    resolve_dimension,
)
from ragops.providers.embedder.fallback import FallbackEmbedder
from ragops.providers.llm import LLM
from ragops.providers.llm.factory import create_llm
from ragops.providers.vectorstore import VectorStore
from ragops.providers.vectorstore.factory import create_vector_store
from ragops.retrieval.service import Retriever
from ragops.retrieval.sparse import Bm25Encoder
from ragops.security.limiter import storage_uri

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Every long-lived component of one ragops process."""

    settings: Settings
    db: Database
    embedder: Embedder
    store: VectorStore
    retriever: Retriever
    llm: LLM | None
    cache: Cache
    generator: Generator
    answers: AnswerCache | None = None
    quota: IngestQuota | None = None
    chat_gate: asyncio.Semaphore | None = None
    turns: TurnWriter | None = None

    @classmethod
    async def start(cls, settings: Settings) -> Runtime:
        """Build and connect every component."""
        db = Database(settings)
        embedder = create_embedder(settings)
        store = create_vector_store(settings, embedder)
        try:
            await store.ensure_ready(await resolve_dimension(embedder))
        except BaseException:
            await store.aclose()
            await db.dispose()
            raise
        if settings.sentence_vectors and not store.holds_sentences:
            logger.warning(
                "RAGOPS_SENTENCE_VECTORS is on, but the vector store's collection was created "
                "without the sentence multivector: no sentence vectors are embedded or used "
                "(docs/retrieval.md, 'Sentence vectors', says how to get them)"
            )
        questions: Embedder = MemoEmbedder(embedder)  # one question, embedded once
        lookups = questions  # the semantic cache never mixes models: no fallback there
        if settings.embedder == "openai" and settings.embedding_fallback:
            chain = FallbackEmbedder(
                questions,  # the memo keeps the remote model's vectors only
                lambda: create_embedder(settings.model_copy(update={"embedder": "onnx-minilm"})),
                retry_seconds=settings.embedding_retry_seconds,
            )
            questions, lookups = chain, chain.strict()
        second = create_second_embedder(settings)
        retriever = Retriever(settings, questions, store, Bm25Encoder(), second=second)
        retriever.uses_second()  # the warning, now, when the collection lacks its vector
        llm = create_llm(settings)
        cache = create_cache(settings)
        generator = Generator(settings=settings, llm=llm, embedder=questions)
        answers = create_answer_cache(settings, db=db, cache=cache, embedder=lookups)
        quota = IngestQuota(storage_uri(settings), settings.ingest_word_pieces_per_hour)
        return cls(
            settings=settings,
            db=db,
            embedder=questions,  # the outermost wrapper: closing it closes every model
            store=store,
            retriever=retriever,
            llm=llm,
            cache=cache,
            generator=generator,
            answers=answers,
            quota=quota,
            chat_gate=asyncio.Semaphore(settings.chat_concurrency)
            if settings.chat_concurrency
            else None,
            turns=TurnWriter(db),
        )

    @property
    def ingest_deps(self) -> IngestDeps:
        """What document ingestion needs."""
        return IngestDeps(
            settings=self.settings,
            db=self.db,
            store=self.store,
            retriever=self.retriever,
            quota=self.quota,
        )

    @property
    def chat_deps(self) -> ChatDeps:
        """What answering needs."""
        return ChatDeps(
            settings=self.settings,
            db=self.db,
            retriever=self.retriever,
            generator=self.generator,
            answers=self.answers,
            gate=self.chat_gate,
            turns=self.turns,
        )

    async def aclose(self) -> None:
        """Close every component, the vector store last (it flushes local storage)."""
        closers = [self.cache.aclose, self.embedder.aclose, self.db.dispose, self.store.aclose]
        if self.retriever.second is not None:
            closers.insert(2, self.retriever.second.aclose)
        if self.turns is not None:
            closers.insert(0, self.turns.aclose)  # turns still queued, before the database
        if self.answers is not None:
            closers.insert(0, self.answers.aclose)
        for close in closers:
            try:
                await close()
            except Exception:
                logger.warning("error while closing %s", close, exc_info=True)
        if self.quota is not None:
            await self.quota.aclose()
        if self.llm is not None:
            try:
                await self.llm.aclose()
            except Exception:
                logger.warning("error while closing the LLM client", exc_info=True)
