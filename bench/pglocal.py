"""pgvector for benchmarks: a private server, and PostgreSQL full-text search to compare.

    with private_pgvector() as url:  # postgresql+asyncpg://postgres@/bench?host=<socket dir>
        ...

The server (PostgreSQL 16 with pgvector, from the `pgserver` package) runs in a temporary
directory on a unix socket only (as its own system user when run as root), with one
database, `bench`; it is stopped and its data deleted on exit.

`FullTextSearch` is the lexical alternative the pgvector store was measured against: a GIN
index on `to_tsvector('english', title || text)` of the store's chunk table, queried with the
question's words OR-ed (`plainto_tsquery` with `&` turned into `|`) and ranked by `ts_rank`.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def private_pgvector(database: str = "bench") -> Iterator[str]:
    """Start the server, create `database`, yield its SQLAlchemy URL; stop and delete after."""
    import asyncpg

    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pgserver

    parent = Path(tempfile.mkdtemp(prefix="ragops-pgvector-"))
    parent.chmod(0o755)
    server = pgserver.get_server(parent / "pg", cleanup_mode="delete")
    try:
        socket_dir = server.get_postmaster_info().socket_dir

        async def create() -> None:
            conn = await asyncpg.connect(host=str(socket_dir), user="postgres", database="postgres")
            try:
                await conn.execute(f'CREATE DATABASE "{database}"')
            finally:
                await conn.close()

        asyncio.run(create())
        yield f"postgresql+asyncpg://postgres@/{database}?host={socket_dir}"
    finally:
        server.cleanup()
        shutil.rmtree(parent, ignore_errors=True)


DOCUMENT = "to_tsvector('english', coalesce(payload->>'title', '') || ' ' || (payload->>'text'))"
QUERY = "replace(plainto_tsquery('english', $1)::text, ' & ', ' | ')::tsquery"


class FullTextSearch:
    """PostgreSQL full-text search over the pgvector store's chunk table (see above)."""

    def __init__(self, url: str, table: str) -> None:
        self.dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        self.table = table
        self.conn: Any = None

    async def build(self) -> float:
        """Connect and create the GIN index; returns the seconds it took."""
        import time

        import asyncpg

        self.conn = await asyncpg.connect(self.dsn)
        started = time.perf_counter()
        index = f'"{self.table}_fts"'
        await self.conn.execute(
            f'CREATE INDEX IF NOT EXISTS {index} ON "{self.table}" USING gin ({DOCUMENT})'
        )
        await self.conn.execute(f'ANALYZE "{self.table}"')
        return time.perf_counter() - started

    async def search(self, text: str, tenant: str, collection: str, limit: int) -> list[str]:
        """Document ids of the best matches, best first."""
        rows = await self.conn.fetch(
            f'SELECT c.document_id FROM "{self.table}" c, (SELECT {QUERY} AS q) query '
            f"WHERE c.tenant_id = $2 AND c.collection = $3 AND {DOCUMENT} @@ query.q "
            f"ORDER BY ts_rank({DOCUMENT}, query.q) DESC, c.document_id LIMIT {int(limit)}",
            text,
            tenant,
            collection,
        )
        return [str(row["document_id"]) for row in rows]

    async def aclose(self) -> None:
        if self.conn is not None:
            await self.conn.close()
