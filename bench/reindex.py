"""Time of `documents.reindex`: the docs/ corpus ingested on embedded defaults (SQLite and the
embedded vector store, in a temporary folder), the vector store's folder removed (a lost
store), then its points rebuilt from the database; and a second run over the full store
(what a re-run costs).

    PYTHONPATH=src python bench/reindex.py [--sentence-vectors] [--batch-size 256]

Prints documents, chunks, seconds, chunks a second and the process's CPU seconds (all its
threads) of each run. Embedding dominates; on a shared machine other jobs move the wall-clock
figures, much less the CPU seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import tempfile
import time
from pathlib import Path

from ragops.config import Settings
from ragops.db import migrate
from ragops.documents.batch import ingest_batch
from ragops.documents.files import collect_files, source_name
from ragops.documents.reindex import reindex
from ragops.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent


async def main(sentences: bool, batch_size: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            data_dir=Path(folder),
            demo_corpus=False,
            log_level="WARNING",
            bootstrap_api_key=False,
            sentence_vectors=sentences,
        )
        await migrate.upgrade(settings)
        docs = ROOT / "docs"
        files = [(source_name(p, docs), p.read_bytes(), None) for p in collect_files([docs])]
        runtime = await Runtime.start(settings)
        try:
            started, cpu = time.monotonic(), time.process_time()
            await ingest_batch(
                runtime.ingest_deps, tenant_id="default", collection="docs", files=files
            )
            print(
                f"ingest: {len(files)} files in {time.monotonic() - started:.1f} s "
                f"({time.process_time() - cpu:.1f} s of process CPU)"
            )
        finally:
            await runtime.aclose()
        shutil.rmtree(Path(folder) / "edge")  # the store is lost; the database stays
        runtime = await Runtime.start(settings)
        try:
            for label in ("empty store", "re-run"):
                cpu = time.process_time()
                result = await reindex(
                    runtime.ingest_deps, tenant_id="default", batch_size=batch_size
                )
                rate = result.chunks / max(result.seconds, 1e-9)
                print(
                    f"reindex ({label}): {result.documents} documents, {result.chunks} chunks "
                    f"in {result.seconds:.1f} s ({rate:.0f} chunks/s; "
                    f"{time.process_time() - cpu:.1f} s of process CPU; sentence vectors "
                    f"{'on' if result.sentence_vectors else 'off'})"
                )
        finally:
            await runtime.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentence-vectors", action="store_true")
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(args.sentence_vectors, args.batch_size))
