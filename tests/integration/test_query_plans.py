"""Every frequent query is served by an index: on PostgreSQL, with the tables filled to a
realistic size and analysed, `EXPLAIN` of each query must contain no sequential scan."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest

from ragops.db import migrate
from tests.conftest import make_settings

FILL = [
    # 5,000 tenants x 4 collections; 50k documents; 200k chunks
    """INSERT INTO collections (id, tenant_id, name, created_at)
       SELECT 'c' || i, 't' || (i % 5000), 'col' || (i / 5000), now()
       FROM generate_series(0, 19999) i""",
    """INSERT INTO corpus_versions (tenant_id, collection, version, updated_at)
       SELECT 't' || (i % 5000), 'col' || (i / 5000), 1 + i % 7, now()
       FROM generate_series(0, 19999) i""",
    """INSERT INTO documents (id, tenant_id, collection_id, source, title, media_type, size_bytes,
                              content_hash, version, chunk_count, created_at, updated_at)
       SELECT 'd' || i, 't' || ((i % 20000) % 5000), 'c' || (i % 20000), 'doc' || i || '.md',
              'Doc ' || i, 'text/markdown', 1000, md5(i::text), 1, 4,
              now() - (i || ' minutes')::interval, now() - (i || ' minutes')::interval
       FROM generate_series(0, 49999) i""",
    """INSERT INTO chunks (id, document_id, version, ordinal, section, start_offset, end_offset,
                           text)
       SELECT 'k' || i, 'd' || (i / 4), 1, i % 4, '', 0, 100, 'chunk text ' || i
       FROM generate_series(0, 199999) i""",
    # 50k sessions (5 % older than 30 days), 200k messages, 20k feedback
    """INSERT INTO chat_sessions (id, tenant_id, collection, created_at, updated_at)
       SELECT 's' || i, 't' || (i % 5000), 'default', now() - ((i % 40) || ' days')::interval,
              now() - (CASE WHEN i % 20 = 0 THEN 40 ELSE i % 29 END || ' days')::interval
       FROM generate_series(0, 49999) i""",
    """INSERT INTO messages (id, session_id, role, content, created_at)
       SELECT 'm' || i, 's' || (i / 4), CASE WHEN i % 2 = 0 THEN 'user' ELSE 'assistant' END,
              'message ' || i, now() - (i || ' seconds')::interval
       FROM generate_series(0, 199999) i""",
    """INSERT INTO feedback (id, message_id, rating, created_at)
       SELECT 'f' || i, 'm' || (i * 10 + 1), 'up', now() FROM generate_series(0, 19999) i""",
    """INSERT INTO api_keys (id, key_hash, prefix, tenant_id, name, scopes, created_at)
       SELECT 'key' || i, md5('k' || i) || md5('x' || i), 'rgo_' || i, 't' || (i % 500), '',
              'chat', now() FROM generate_series(0, 4999) i""",
    """INSERT INTO audit_events (at, tenant_id, actor_key_id, action, outcome)
       SELECT now() - (i || ' minutes')::interval, 't' || (i % 5000), 'key', 'chat', 'success'
       FROM generate_series(0, 99999) i""",
    "ANALYZE",
]

FREQUENT: dict[str, str] = {
    "authenticate a key": "SELECT * FROM api_keys WHERE key_hash = md5('k7') || md5('x7')",
    "list a tenant's keys": (
        "SELECT * FROM api_keys WHERE tenant_id = 't7' ORDER BY created_at DESC, id"
    ),
    "corpus version": (
        "SELECT version FROM corpus_versions WHERE tenant_id = 't7' AND collection = 'col1'"
    ),
    "collection exists": "SELECT id FROM collections WHERE tenant_id = 't7' AND name = 'col1'",
    "list collections": (
        "SELECT c.name, c.created_at, count(d.id) FROM collections c "
        "LEFT JOIN documents d ON d.collection_id = c.id WHERE c.tenant_id = 't7' "
        "GROUP BY c.id, c.name, c.created_at ORDER BY c.name"
    ),
    "visible chunks": (
        "SELECT k.id FROM chunks k JOIN documents d ON d.id = k.document_id "
        "WHERE d.tenant_id = 't7' AND k.id IN ('k1', 'k2', 'k3', 'k400', 'k5000')"
    ),
    "list documents, newest first": (
        "SELECT d.*, c.name FROM documents d JOIN collections c ON c.id = d.collection_id "
        "WHERE d.tenant_id = 't7' ORDER BY d.updated_at DESC, d.id LIMIT 100"
    ),
    "count documents": "SELECT count(*) FROM documents WHERE tenant_id = 't7'",
    "find a document by source": (
        "SELECT d.* FROM documents d JOIN collections c ON c.id = d.collection_id "
        "WHERE c.tenant_id = 't7' AND c.name = 'col1' AND d.source = 'doc507.md'"
    ),
    "a document's chunks": "DELETE FROM chunks WHERE document_id = 'd77'",
    "load a session": "SELECT * FROM chat_sessions WHERE id = 's77'",
    "session history": (
        "SELECT role, content FROM messages WHERE session_id = 's77' "
        "ORDER BY created_at DESC, id DESC LIMIT 6"
    ),
    "session transcript": (
        "SELECT * FROM messages WHERE session_id = 's77' ORDER BY created_at, id"
    ),
    "feedback target": (
        "SELECT m.*, s.tenant_id FROM messages m JOIN chat_sessions s ON s.id = m.session_id "
        "WHERE m.id = 'm77'"
    ),
    "feedback of a message": "SELECT * FROM feedback WHERE message_id = 'm71'",
    "archive: oldest sessions": (
        "SELECT id FROM chat_sessions WHERE updated_at < now() - interval '30 days' "
        "ORDER BY updated_at LIMIT 500"
    ),
    "archive: their messages": ("SELECT id FROM messages WHERE session_id IN ('s0', 's20', 's40')"),
    "audit events of a tenant": (
        "SELECT * FROM audit_events WHERE tenant_id = 't7' AND at >= now() - interval '1 day' "
        "ORDER BY id DESC LIMIT 1000"
    ),
}


def _seq_scans(plan: dict[str, Any]) -> list[str]:
    found = [plan["Relation Name"]] if plan.get("Node Type") == "Seq Scan" else []
    for child in plan.get("Plans", []):
        found += _seq_scans(child)
    return found


@pytest.fixture
async def filled(pg_url: str, tmp_path: Any) -> Any:
    await migrate.upgrade(make_settings(tmp_path, database_url=pg_url))
    conn = await asyncpg.connect(pg_url.replace("+asyncpg", ""))
    try:
        for statement in FILL:
            await conn.execute(statement)
        yield conn
    finally:
        await conn.close()


async def test_frequent_queries_use_indexes(filled: asyncpg.Connection) -> None:
    scans: dict[str, list[str]] = {}
    for name, query in FREQUENT.items():
        async with filled.transaction():  # EXPLAIN only: nothing runs, the DELETE included
            raw = await filled.fetchval(f"EXPLAIN (FORMAT JSON) {query}")
        plan = json.loads(raw)[0]["Plan"]
        if tables := _seq_scans(plan):
            scans[name] = tables
    assert scans == {}, f"sequential scans: {scans}"
