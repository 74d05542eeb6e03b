"""The demo corpus: on the first start of an empty instance, ingest the project's own docs/
(architecture, configuration, runbooks...) so `make run` answers questions about them.

The server does not wait for it: `DemoCorpusLoader` ingests in a background task started by
the application's lifespan (and cancelled at shutdown), logs its progress, and reports itself
busy until it is done, so `/readyz` answers 503 `ingesting` while `/healthz` answers at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any, Literal

from ragops.documents import batch as documents
from ragops.documents import catalog
from ragops.documents.files import collect_files, source_name
from ragops.runtime import Runtime

logger = logging.getLogger(__name__)

DEMO_TENANT = "default"
BATCH_FILES = 8  # files per ingest call: progress granularity without losing batching

DemoStatus = Literal["checking", "ingesting", "ready", "skipped", "failed", "cancelled"]


def demo_corpus_path(configured: Path | None) -> Path | None:
    """The demo corpus folder: the configured one, else ./docs, else the checkout's docs/."""
    candidates = [configured] if configured else []
    candidates += [Path.cwd() / "docs", Path(__file__).resolve().parents[2] / "docs"]
    for candidate in candidates:
        if candidate is not None and candidate.is_dir():
            return candidate
    return None


class DemoCorpusLoader:
    """Ingests the demo corpus in the background and tells readiness whether it is done."""

    reason = "ingesting"

    def __init__(self, runtime: Runtime, tenant_id: str = DEMO_TENANT) -> None:
        self.runtime = runtime
        self.tenant_id = tenant_id
        self.status: DemoStatus = "checking"
        self.files_done = 0
        self.files_total = 0
        self.ingested = 0
        self.started_at = time.monotonic()
        self.finished_at: float | None = None
        self._task: asyncio.Task[None] | None = None
        self.done = asyncio.Event()

    @property
    def busy(self) -> bool:
        """Whether the instance should not take questions yet (the corpus is still loading)."""
        return self.status in ("checking", "ingesting")

    def progress(self) -> dict[str, Any]:
        """The figures `/readyz` shows."""
        elapsed = (self.finished_at or time.monotonic()) - self.started_at
        return {
            "status": self.status,
            "files_done": self.files_done,
            "files_total": self.files_total,
            "seconds": round(elapsed, 1),
        }

    def start(self) -> None:
        """Start ingesting in a task of the running event loop."""
        self._task = asyncio.create_task(self._run(), name="demo-corpus")

    async def aclose(self) -> None:
        """Cancel the ingestion if it still runs, and wait for it to stop."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            if self.files_total == 0:
                return
            logger.warning(
                "demo corpus ingestion cancelled after %d of %d files; it only loads into an "
                "empty instance, so complete it with `ragops ingest` on the corpus folder",
                self.files_done,
                self.files_total,
            )

    async def _run(self) -> None:
        try:
            self.status = await self._ingest()
        except asyncio.CancelledError:
            self.status = "cancelled"
            raise
        except Exception:
            logger.exception("demo corpus ingestion failed; serving without it")
            self.status = "failed"
        finally:
            self.finished_at = time.monotonic()
            self.done.set()

    async def _ingest(self) -> DemoStatus:
        runtime = self.runtime
        if await catalog.count_documents(db=runtime.db, tenant_id=self.tenant_id):
            return "skipped"
        root = demo_corpus_path(runtime.settings.demo_corpus_path)
        if root is None:
            logger.warning("no demo corpus found; start with an empty index")
            return "skipped"
        paths = collect_files([root])
        self.files_total = len(paths)
        self.status = "ingesting"
        logger.info("ingesting the demo corpus: %d files from %s", len(paths), root.name)
        for first in range(0, len(paths), BATCH_FILES):
            batch = paths[first : first + BATCH_FILES]
            files = [(source_name(path, root), path.read_bytes(), None) for path in batch]
            outcomes = await documents.ingest_batch(
                runtime.ingest_deps,
                tenant_id=self.tenant_id,
                collection=runtime.settings.default_collection,
                files=files,
                trusted=True,  # the operator's own files: see security/injection.py
            )
            for outcome in outcomes:
                if outcome.error is not None:
                    logger.warning("demo corpus file skipped: %s", outcome.error.message)
            self.ingested += sum(1 for outcome in outcomes if outcome.status != "error")
            self.files_done += len(batch)
            logger.info("demo corpus: %d of %d files", self.files_done, self.files_total)
        logger.info(
            "demo corpus ready: %d files in %.1f s; answers are ready",
            self.ingested,
            time.monotonic() - self.started_at,
        )
        return "ready"
