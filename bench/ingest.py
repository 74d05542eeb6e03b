"""Ingestion throughput benchmark: a BEIR corpus through the product's own ingestion path.

    python bench/ingest.py --dataset ../shared/data/scifact [--json] [--limit N]

Every document of `corpus.jsonl` becomes one plain-text file (`<_id>.txt`: the title, a blank
line, the text) handed to the real ingestion service (`documents.batch.ingest_batch`) of a
migrated runtime on a temporary data dir (SQLite, the embedded vector store, the configured
embedder): extraction, chunking, the injection scan, embedding, BM25 encoding, the vector
store write and the database rows, as `ragops ingest` does it.

It prints documents, chunks and seconds, and splits the seconds into the model's share (wall
time inside the embedder's `embed_documents`, with the word pieces it read) and the store's
share (inside `upsert`); the rest is parsing, chunking, BM25 and the database. `--json` prints
`{"documents", "chunks", "seconds", "model_seconds", "store_seconds", "word_pieces",
"cpu_seconds", "failed"}`.
`RAGOPS_*` variables apply (e.g. `RAGOPS_DATABASE_URL` for PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TENANT = "bench"
COLLECTION = "bench"


class Timed:
    """Wraps an object and adds the wall time spent in one async method to `seconds`."""

    def __init__(self, real: Any, method: str) -> None:
        self.real = real
        self.method = method
        self.seconds = 0.0
        self.texts: list[str] = []

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.real, name)
        if name != self.method:
            return value

        async def timed(items: Sequence[Any]) -> Any:
            started = time.perf_counter()
            try:
                return await value(items)
            finally:
                self.seconds += time.perf_counter() - started
                if self.method == "embed_documents":
                    self.texts.extend(items)

        return timed


def load_corpus(folder: Path, limit: int | None) -> list[tuple[str, bytes, str | None]]:
    """(source, bytes, media type) of each corpus document, at most `limit` of them."""
    files: list[tuple[str, bytes, str | None]] = []
    with (folder / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            doc = json.loads(line)
            body = f"{doc.get('title', '')}\n\n{doc.get('text', '')}".strip()
            files.append((f"{doc['_id']}.txt", body.encode("utf-8"), "text/plain"))
            if limit is not None and len(files) >= limit:
                break
    return files


def word_pieces(embedder: Any, texts: Sequence[str]) -> int | None:
    """Word pieces the model read (after its truncation), when the embedder has a tokenizer."""
    load = getattr(embedder, "load", None)
    if load is None:
        return None
    tokenizer, _ = load()
    return sum(len(e.ids) for e in tokenizer.encode_batch(list(texts)))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Ingest the corpus into a fresh runtime; returns counts and timings."""
    from ragops.config.settings import Settings
    from ragops.db import migrate
    from ragops.documents.batch import ingest_batch
    from ragops.runtime import Runtime

    files = load_corpus(Path(args.dataset), args.limit)
    with tempfile.TemporaryDirectory(prefix="ragops-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp), qdrant_url=None, demo_corpus=False)
        await migrate.upgrade(settings)
        runtime = await Runtime.start(settings)
        try:
            embedder = Timed(runtime.retriever.embedder, "embed_documents")
            store = Timed(runtime.store, "upsert")
            runtime.retriever.embedder = embedder
            deps = runtime.ingest_deps
            deps = type(deps)(
                settings=deps.settings, db=deps.db, store=store, retriever=deps.retriever
            )
            await asyncio.to_thread(getattr(embedder.real, "load", lambda: None))
            progress = None if args.json else _printer(len(files))
            started, cpu = time.perf_counter(), time.process_time()
            outcomes = await ingest_batch(
                deps, tenant_id=TENANT, collection=COLLECTION, files=files, progress=progress
            )
            seconds = time.perf_counter() - started
            cpu_seconds = time.process_time() - cpu
            if progress is not None:
                print()
        finally:
            await runtime.aclose()
    failed = [o for o in outcomes if o.status == "error"]
    chunks = sum(o.document.chunk_count for o in outcomes if o.document is not None)
    return {
        "documents": len(outcomes) - len(failed),
        "failed": len(failed),
        "chunks": chunks,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "model_seconds": round(embedder.seconds, 2),
        "store_seconds": round(store.seconds, 2),
        "word_pieces": word_pieces(embedder.real, embedder.texts),
    }


def _printer(total: int) -> Any:
    def show(done: int, _total: int) -> None:
        if done % 100 == 0 or done == total:
            print(f"\ringested {done}/{total}", end="", flush=True)

    return show


def report(outcome: dict[str, Any]) -> str:
    """The human-readable summary."""
    seconds = outcome["seconds"] or 1e-9
    model = outcome["model_seconds"]
    rest = seconds - model
    lines = [
        f"{outcome['documents']} documents ({outcome['failed']} failed), "
        f"{outcome['chunks']} chunks in {seconds:.1f} s: "
        f"{outcome['documents'] / seconds:.1f} documents/s, {outcome['chunks'] / seconds:.1f} "
        "chunks/s",
        f"model {model:.1f} s"
        + (
            f" ({outcome['word_pieces']} word pieces, {outcome['word_pieces'] / model:.0f}/s)"
            if outcome["word_pieces"] and model
            else ""
        ),
        f"everything else {rest:.1f} s = {100 * rest / model if model else 0:.0f} % of the "
        f"model's time (vector store writes {outcome['store_seconds']:.1f} s)",
        f"CPU time of the process {outcome['cpu_seconds']:.1f} s (on a shared machine, wall "
        "time also counts other processes' turns)",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="BEIR-layout folder")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    parser.add_argument("--limit", type=int, default=None, help="ingest at most N documents")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    outcome = asyncio.run(run(args))
    print(json.dumps(outcome) if args.json else report(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main())
