"""Scratch data of realistic size for the backup drill: a BEIR corpus (SciFact: 5,183
abstracts) as documents with one chunk and one vector each, plus chat sessions with a question,
a cited answer and, for every fifth answer, feedback.

Vectors come from the retrieval benchmark's `--cache-embeddings` file when one matches the
corpus and model (`var/bench/<dataset>-<key>.npy`, the same key `bench/retrieval.py` uses), so
a drill does not re-embed the corpus; otherwise the configured embedder computes them. Rows are
written with bulk inserts, points with the store's upsert, through the product's own tables and
payload layout, so a restored drill instance answers questions like any other.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert

from ragops.db import Database
from ragops.providers.embedder import Embedder
from ragops.providers.vectorstore.base import ChunkPoint, VectorStore
from ragops.retrieval.sparse import Bm25Encoder

TENANT = "default"
COLLECTION = "scifact"
BATCH = 500


@dataclass
class ScratchData:
    """What was written: counts and where the vectors came from."""

    documents: int
    sessions: int
    messages: int
    feedback: int
    vectors: str  # "cached <file>" or "computed"


def load_corpus(dataset: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """The rows of `corpus.jsonl` (`_id`, `title`, `text`), the first `limit` of them."""
    rows: list[dict[str, Any]] = []
    with (dataset / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
                if limit is not None and len(rows) >= limit:
                    break
    return rows


def cache_file(cache_dir: Path, dataset: Path, model_id: str, texts: list[str]) -> Path:
    """The benchmark's embedding cache file for these texts (same key as bench/retrieval.py)."""
    digest = hashlib.sha256(model_id.encode())
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    return cache_dir / f"{dataset.name}-{digest.hexdigest()[:16]}.npy"


async def _vectors(
    embedder: Embedder, texts: list[str], cache: Path
) -> tuple[np.ndarray[Any, Any], str]:
    if cache.exists():
        vectors = np.load(cache)
        if vectors.shape[0] == len(texts):
            return vectors, f"cached {cache.name}"
    computed = await embedder.embed_documents(texts)
    return np.asarray(computed, dtype=np.float32), "computed"


async def write_scratch_data(
    *,
    db: Database,
    store: VectorStore,
    embedder: Embedder,
    dataset: Path,
    sessions: int,
    limit_docs: int | None = None,
    cache_dir: Path = Path("var/bench"),
) -> ScratchData:
    """Fill a migrated, empty instance with the corpus and `sessions` chat sessions."""
    from ragops.cache.models import CorpusVersion
    from ragops.chat.models import ChatSession, Feedback, Message
    from ragops.documents.models import Chunk, Collection, Document

    corpus = load_corpus(dataset, limit_docs)
    texts = [f"{d.get('title', '')}\n{d.get('text', '')}".strip() for d in corpus]
    vectors, source = await _vectors(
        embedder, texts, cache_file(cache_dir, dataset, embedder.model_id, texts)
    )
    encoder = Bm25Encoder()
    now = datetime.now(UTC)
    collection_id = str(uuid.uuid4())
    documents: list[dict[str, Any]] = []
    chunks: list[dict[str, Any]] = []
    points: list[ChunkPoint] = []
    for number, doc in enumerate(corpus):
        document_id, chunk_id = str(uuid.uuid4()), str(uuid.uuid4())
        body = str(doc.get("text", ""))
        title = str(doc.get("title", "")) or f"SciFact {doc['_id']}"
        documents.append(
            {
                "id": document_id,
                "tenant_id": TENANT,
                "collection_id": collection_id,
                "source": f"scifact/{doc['_id']}.txt",
                "title": title[:512],
                "media_type": "text/plain",
                "size_bytes": len(body.encode("utf-8")),
                "content_hash": hashlib.sha256(body.encode("utf-8")).hexdigest(),
                "version": 1,
                "chunk_count": 1,
                "created_at": now,
                "updated_at": now,
            }
        )
        chunks.append(
            {
                "id": chunk_id,
                "document_id": document_id,
                "version": 1,
                "ordinal": 0,
                "section": "",
                "start_offset": 0,
                "end_offset": len(body),
                "text": body,
                "quoted": None,
            }
        )
        payload = {
            "tenant_id": TENANT,
            "collection": COLLECTION,
            "document_id": document_id,
            "version": 1,
            "chunk_id": chunk_id,
            "title": title,
            "section": "",
            "text": body,
            "start": 0,
            "end": len(body),
            "ordinal": 0,
        }
        points.append(
            ChunkPoint(
                id=chunk_id,
                dense=np.asarray(vectors[number], dtype=np.float32),
                sparse=encoder.encode_document(texts[number]),
                payload=payload,
            )
        )
    session_rows: list[dict[str, Any]] = []
    message_rows: list[dict[str, Any]] = []
    feedback_rows: list[dict[str, Any]] = []
    for number in range(sessions):
        session_id = str(uuid.uuid4())
        when = now - timedelta(minutes=sessions - number)
        session_rows.append(
            {
                "id": session_id,
                "tenant_id": TENANT,
                "collection": COLLECTION,
                "created_at": when,
                "updated_at": when,
            }
        )
        cited = documents[number % len(documents)] if documents else None
        question_id, answer_id = str(uuid.uuid4()), str(uuid.uuid4())
        message_rows.append(
            {
                "id": question_id,
                "session_id": session_id,
                "role": "user",
                "content": f"What does study {number} find?",
                "mode": None,
                "citations": None,
                "request_id": f"drill-{number}",
                "created_at": when,
            }
        )
        message_rows.append(
            {
                "id": answer_id,
                "session_id": session_id,
                "role": "assistant",
                "content": f"The study finds effect {number} [1].",
                "mode": "extractive",
                "citations": [{"index": 1, "document_id": cited["id"], "title": cited["title"]}]
                if cited
                else None,
                "request_id": f"drill-{number}",
                "created_at": when,
            }
        )
        if number % 5 == 0:
            feedback_rows.append(
                {
                    "id": str(uuid.uuid4()),
                    "message_id": answer_id,
                    "rating": "up" if number % 10 == 0 else "down",
                    "comment": None,
                    "created_at": when,
                }
            )
    async with db.session() as session, session.begin():
        await session.execute(
            insert(Collection),
            [{"id": collection_id, "tenant_id": TENANT, "name": COLLECTION, "created_at": now}],
        )
        for table, rows in (
            (Document, documents),
            (Chunk, chunks),
            (ChatSession, session_rows),
            (Message, message_rows),
            (Feedback, feedback_rows),
        ):
            for start in range(0, len(rows), BATCH):
                await session.execute(insert(table), rows[start : start + BATCH])
        await session.execute(
            insert(CorpusVersion),
            [{"tenant_id": TENANT, "collection": COLLECTION, "version": 1, "updated_at": now}],
        )
    for start in range(0, len(points), BATCH):
        await store.upsert(points[start : start + BATCH])
    return ScratchData(
        documents=len(documents),
        sessions=len(session_rows),
        messages=len(message_rows),
        feedback=len(feedback_rows),
        vectors=source,
    )
