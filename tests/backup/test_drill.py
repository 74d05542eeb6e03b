"""The backup drill at a small size (the full SciFact + 10,000 sessions drill is run by hand:
`ragops backup drill`): nothing lost, every checksum equal, a JSON record written; and the
drill's fingerprint does notice a lost row."""

from __future__ import annotations

import json
from pathlib import Path

from ragops.backup.drill import run_drill, table_fingerprints, write_record
from ragops.config import Settings
from ragops.db import migrate
from tests.conftest import REPO_ROOT

DATASET = REPO_ROOT.parent / "shared" / "data" / "scifact"


def _mini_dataset(folder: Path) -> Path:
    """Twelve documents in the SciFact layout (the real corpus when it is at hand)."""
    folder.mkdir()
    lines = []
    if (DATASET / "corpus.jsonl").is_file():
        with (DATASET / "corpus.jsonl").open() as fh:
            lines = [next(fh) for _ in range(12)]
    else:
        lines = [
            json.dumps({"_id": str(n), "title": f"Study {n}", "text": f"Finding {n} on kites."})
            + "\n"
            for n in range(12)
        ]
    (folder / "corpus.jsonl").write_text("".join(lines))
    return folder


async def test_small_drill_loses_nothing(settings: Settings, tmp_path: Path) -> None:
    """On SQLite, and on a scratch database of the PostgreSQL server."""
    record = await run_drill(
        settings=settings,
        dataset=_mini_dataset(tmp_path / "corpus"),
        sessions=30,
        limit_docs=None,
        postgres_server=settings.database_url,
        workdir=tmp_path / "drills",
        cache_dir=tmp_path / "no-cache",
    )
    assert record.passed, record
    assert record.rows["documents"] == 12 and record.points == 12
    assert record.rows["chat_sessions"] == 30 and record.rows["messages"] == 60
    assert record.rows["feedback"] == 6
    assert record.database == ("postgresql" if settings.database_url else "sqlite")
    assert not list((tmp_path / "drills").iterdir())  # the scratch instance is gone
    path = write_record(record, tmp_path / "records")
    saved = json.loads(path.read_text())
    assert saved["passed"] and saved["restore_seconds"] > 0 and saved["records_lost"] == 0


async def test_fingerprint_notices_a_changed_row(tmp_path: Path) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    await migrate.upgrade(settings)
    engine = create_async_engine(settings.resolved_database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("INSERT INTO corpus_versions VALUES ('t', 'c', 1, '2026-01-01')")
            )
        before = await table_fingerprints(settings.resolved_database_url)
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE corpus_versions SET version = 2"))
        after = await table_fingerprints(settings.resolved_database_url)
    finally:
        await engine.dispose()
    assert before[0] == after[0]  # same counts
    assert before[1]["corpus_versions"] != after[1]["corpus_versions"]
