"""The demo corpus: on the first start of an empty instance, ingest the project's own docs/
(architecture, configuration, runbooks...) so `make run` answers questions at once."""

from __future__ import annotations

import logging
from pathlib import Path

from ragops.documents import batch as documents
from ragops.documents import catalog
from ragops.documents.files import collect_files, source_name
from ragops.runtime import Runtime

logger = logging.getLogger(__name__)

DEMO_TENANT = "default"


def demo_corpus_path(configured: Path | None) -> Path | None:
    """The demo corpus folder: the configured one, else ./docs, else the checkout's docs/."""
    candidates = [configured] if configured else []
    candidates += [Path.cwd() / "docs", Path(__file__).resolve().parents[2] / "docs"]
    for candidate in candidates:
        if candidate is not None and candidate.is_dir():
            return candidate
    return None


async def ingest_demo_corpus_if_empty(runtime: Runtime, tenant_id: str = DEMO_TENANT) -> int:
    """Ingest the demo corpus into the default collection when the tenant has no documents.

    Returns how many files were ingested (0 when the instance already had documents).
    """
    if await catalog.count_documents(db=runtime.db, tenant_id=tenant_id):
        return 0
    root = demo_corpus_path(runtime.settings.demo_corpus_path)
    if root is None:
        logger.warning("no demo corpus found; start with an empty index")
        return 0
    files = [(source_name(path, root), path.read_bytes(), None) for path in collect_files([root])]
    outcomes = await documents.ingest_batch(
        runtime.ingest_deps,
        tenant_id=tenant_id,
        collection=runtime.settings.default_collection,
        files=files,
    )
    ingested = sum(1 for outcome in outcomes if outcome.status != "error")
    for outcome in outcomes:
        if outcome.error is not None:
            logger.warning("demo corpus file skipped: %s", outcome.error.message)
    logger.info("demo corpus ingested: %d files from %s", ingested, root.name)
    return ingested
