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

`--stages` also prints (and adds as `"stages"` to the JSON) the CPU seconds of each stage:
the model's runs (`session.run`, every thread), tokenisation with padding and pooling, the
injection scan, BM25, extraction, chunking, and the CPU of each thread of the process
(`MainThread` is the event loop: database rows, payloads, bookkeeping). CPU seconds, not wall
time, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
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


class StageClock:
    """CPU seconds (`time.thread_time`) of named functions, summed over every thread."""

    def __init__(self) -> None:
        self.seconds: collections.Counter[str] = collections.Counter()

    def wrap(self, owner: Any, name: str, label: str) -> None:
        real: Callable[..., Any] = getattr(owner, name)

        @functools.wraps(real)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return real(*args, **kwargs)
            finally:
                spent = time.thread_time() - started
                self.seconds[label] += spent
                if not threading.current_thread().name.startswith("ragops-onnx"):
                    self.seconds[label + " (calling thread)"] += spent

        setattr(owner, name, timed)

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Wrap the stage functions of the ingestion path while the block runs."""
        from ragops.documents import service
        from ragops.providers.embedder import onnx_minilm
        from ragops.retrieval import sparse

        saved = [
            (service, "extract"),
            (service, "chunk_document"),
            (service, "estimate_word_pieces"),
            (service, "scan_document_chunks"),
            (sparse.Bm25Encoder, "encode_document"),
            (onnx_minilm.OnnxEmbedder, "embed_sync"),
            (onnx_minilm.OnnxEmbedder, "_run"),
        ]
        originals = [getattr(owner, name) for owner, name in saved]
        labels = ["extract", "chunk", "estimate", "injection_scan", "bm25", "embed_call", "run"]
        for (owner, name), label in zip(saved, labels, strict=True):
            if name != "embed_sync":
                self.wrap(owner, name, label)
        clock = self
        run = onnx_minilm.OnnxEmbedder._run

        def run_timed(embedder: Any, session: Any, rows: Any) -> Any:
            return run(embedder, _TimedSession(session, clock), rows)

        onnx_minilm.OnnxEmbedder._run = run_timed  # type: ignore[method-assign]
        self.wrap(onnx_minilm.OnnxEmbedder, "embed_sync", "embed_call")
        try:
            yield
        finally:
            for (owner, name), original in zip(saved, originals, strict=True):
                setattr(owner, name, original)


class _TimedSession:
    def __init__(self, real: Any, clock: StageClock) -> None:
        self.real, self.clock = real, clock

    def run(self, *args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return self.real.run(*args, **kwargs)
        finally:
            self.clock.seconds["model"] += time.thread_time() - started

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def thread_cpu() -> dict[str, tuple[str, float]]:
    """CPU seconds of each thread of this process, by Python thread name (pool names without
    their number; threads Python did not start are "native")."""
    names = {str(t.native_id): t.name.split("_")[0] for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, tuple[str, float]] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[tid] = (names.get(tid, "native"), (int(fields[11]) + int(fields[12])) / tick)
    return out


def stage_report(
    clock: StageClock,
    before: dict[str, tuple[str, float]],
    after: dict[str, tuple[str, float]],
) -> dict[str, float]:
    """Stages and threads in CPU seconds."""
    s = clock.seconds
    stages = {
        "model (session.run, all threads)": s["model"],
        "padding and pooling": s["run"] - s["model"],
        "tokenisation and the rest of embed calls": s["embed_call"] - s["run (calling thread)"],
        "injection_scan": s["injection_scan"],
        "bm25": s["bm25"],
        "extract": s["extract"],
        "chunk": s["chunk"],
        "estimate word pieces": s["estimate"],
    }
    threads: collections.Counter[str] = collections.Counter()
    for tid, (name, cpu) in after.items():
        threads[f"thread {name}"] += cpu - before.get(tid, (name, 0.0))[1]
    return {k: round(v, 2) for k, v in {**stages, **threads}.items()}


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
            clock = StageClock()
            with clock.installed() if args.stages else _nothing():
                threads_before = thread_cpu()
                started, cpu = time.perf_counter(), time.process_time()
                outcomes = await ingest_batch(
                    deps, tenant_id=TENANT, collection=COLLECTION, files=files, progress=progress
                )
                seconds = time.perf_counter() - started
                cpu_seconds = time.process_time() - cpu
                stages = stage_report(clock, threads_before, thread_cpu())
            if progress is not None:
                print()
        finally:
            await runtime.aclose()
    failed = [o for o in outcomes if o.status == "error"]
    chunks = sum(o.document.chunk_count for o in outcomes if o.document is not None)
    extra = {"stages": stages} if args.stages else {}
    return {
        **extra,
        "documents": len(outcomes) - len(failed),
        "failed": len(failed),
        "chunks": chunks,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "model_seconds": round(embedder.seconds, 2),
        "store_seconds": round(store.seconds, 2),
        "word_pieces": word_pieces(embedder.real, embedder.texts),
    }


@contextmanager
def _nothing() -> Iterator[None]:
    yield


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
    for stage, cpu in (outcome.get("stages") or {}).items():
        lines.append(f"  {stage:45s} {cpu:8.2f} CPU-s")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="BEIR-layout folder")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    parser.add_argument("--limit", type=int, default=None, help="ingest at most N documents")
    parser.add_argument("--stages", action="store_true", help="CPU seconds of each stage")
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
