"""qdrant-client is imported only by the Qdrant server store: every `ragops` command, the
server and a backup on the embedded store (or pgvector) start without it (importing it costs
about a second of CPU, paid by every command and every test that runs one)."""

from __future__ import annotations

import subprocess
import sys

ENTRY_POINTS = (
    "ragops.cli.main",
    "ragops.main",
    "ragops.runtime",
    "ragops.backup.service",
    "ragops.backup.vectors",
    "ragops.providers.vectorstore.factory",
)


def test_the_entry_points_start_without_qdrant_client() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {ENTRY_POINTS!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'qdrant_client'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout


def test_the_server_store_still_gets_its_models() -> None:
    code = (
        "from ragops.providers.vectorstore import qdrant_layout\n"
        "from ragops.providers.vectorstore.base import SearchScope\n"
        "print(type(qdrant_layout.scope_filter(SearchScope(tenant_id='t'))).__name__)\n"
        "print(sorted(qdrant_layout.vectors_config(384, 768)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.split("\n")[:2] == ["Filter", "['dense', 'dense_second', 'sentences']"]
