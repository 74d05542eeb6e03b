"""A migration keeps its own copy of what it needs from the application (it must not import
app code that may change after it ships); these copies must still agree with the code whose
stored output they reproduce."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from ragops.auth import chain
from ragops.db.migrate import MIGRATIONS_DIR


def _migration(name: str) -> ModuleType:
    path = MIGRATIONS_DIR / "versions" / name
    spec = importlib.util.spec_from_file_location(f"migration_{Path(name).stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ROWS = [
    SimpleNamespace(
        chain_seq=1,
        at=datetime(2026, 12, 3, 10, 0, 0, 123456, tzinfo=UTC),
        tenant_id="acme",
        actor_key_id="k1",
        action="key.create",
        target="k2",
        outcome="success",
        client_address="127.0.0.1",
        request_id="req-1",
        detail={"scopes": ["chat", "ingest"], "note": "caf\u00e9"},
    ),
    SimpleNamespace(
        chain_seq=2,
        at=datetime(2026, 12, 3, 10, 0, 1),  # naive, as SQLite hands it back
        tenant_id=None,
        actor_key_id=None,
        action="audit.chain.downgraded",
        target="0006",
        outcome="success",
        client_address=None,
        request_id=None,
        detail=None,
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=["full", "sparse"])
def test_0007_hashes_an_audit_row_as_the_chain_does(row: SimpleNamespace) -> None:
    migration = _migration("0007_audit_hash_chain.py")
    prev = "ab" * 32
    assert migration.content_of(row) == chain.content_of(row)
    assert migration.row_hash(prev, migration.content_of(row)) == chain.row_hash(
        prev, chain.content_of(row)
    )


def test_0007_names_the_chain_start_and_the_downgrade_event_as_the_chain_does() -> None:
    migration = _migration("0007_audit_hash_chain.py")
    assert migration.GENESIS == chain.GENESIS
    assert migration.DOWNGRADED == chain.DOWNGRADED
