"""`ragops db status`'s pool figures (`db.signals.pool_figures`): overflow counts the
connections open beyond the persistent size, never below zero."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from ragops.db.signals import pool_figures


async def test_overflow_is_what_is_open_beyond_the_persistent_size(tmp_path: Path) -> None:
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'pool.db'}",
        poolclass=AsyncAdaptedQueuePool,
        pool_size=3,
        max_overflow=2,
    )
    db: Any = SimpleNamespace(engine=engine)
    try:
        idle = pool_figures(db)
        assert (idle["size"], idle["checked_out"], idle["overflow"]) == (3, 0, 0)
        held = [await engine.connect().start() for _ in range(4)]
        busy = pool_figures(db)
        assert (busy["checked_out"], busy["overflow"]) == (4, 1)
        for conn in held:
            await conn.close()
    finally:
        await engine.dispose()
