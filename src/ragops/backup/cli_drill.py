"""`ragops backup drill` (backup -> destroy -> restore on scratch data) and `ragops backup check`
(a database restored by other means, before traffic is switched to it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ragops.backup.cli_support import run_work as _run
from ragops.cli.runner import console, fail, load_settings

if TYPE_CHECKING:
    from ragops.config import Settings


def drill(
    dataset: Annotated[Path, typer.Option(help="BEIR folder with corpus.jsonl (SciFact).")] = Path(
        "../shared/data/scifact"
    ),
    sessions: Annotated[int, typer.Option(min=0, help="Chat sessions written.")] = 10_000,
    limit_docs: Annotated[
        int | None, typer.Option(min=1, help="Only the first N documents (a quick drill).")
    ] = None,
    postgres: Annotated[
        bool,
        typer.Option(
            "--postgres",
            help="On a scratch PostgreSQL database (server: --scratch-url or "
            "RAGOPS_DATABASE_URL) instead of SQLite.",
        ),
    ] = False,
    pgvector: Annotated[
        bool,
        typer.Option(
            "--pgvector",
            help="On a scratch PostgreSQL database with the vectors in its pgvector store "
            "(implies --postgres; the server needs the vector extension).",
        ),
    ] = False,
    scratch_url: Annotated[
        str | None, typer.Option(help="PostgreSQL server for --postgres.")
    ] = None,
    out: Annotated[Path, typer.Option(help="Where the JSON record goes.")] = Path("var/drills"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the record as JSON.")] = False,
) -> None:
    """Backup -> destroy -> restore on scratch data of realistic size; prints the recovery
    time and writes a JSON record. Exit 1 when anything was lost."""
    from dataclasses import asdict

    from ragops.backup.drill import run_drill, write_record

    settings = load_settings()
    if not (dataset / "corpus.jsonl").is_file():
        fail(f"no corpus.jsonl under {dataset} (pass --dataset)")
    server = None
    if postgres or pgvector:
        server = scratch_url or settings.database_url
        if server is None or not server.startswith("postgresql"):
            fail(
                "--postgres and --pgvector need a PostgreSQL server: --scratch-url or "
                "RAGOPS_DATABASE_URL"
            )
    with console.status("drill: writing scratch data, backup, destroy, restore..."):
        record = _run(
            run_drill(
                settings=settings,
                dataset=dataset,
                sessions=sessions,
                limit_docs=limit_docs,
                postgres_server=server,
                workdir=settings.data_dir / "drills",
                cache_dir=Path("var/bench"),
                pgvector=pgvector,
            )
        )
    path = write_record(record, out)
    if as_json:
        print(json.dumps(asdict(record) | {"passed": record.passed, "record": str(path)}))
    else:
        rows = sum(record.rows.values())
        console.print(f"backup drill on {record.database}: {record.dataset}")
        console.print(f"  {rows} rows, {record.points} vectors ({record.vectors_source})")
        console.print(
            f"  backup {record.backup_seconds:.1f} s ({record.backup_bytes / 1e6:.1f} MB), "
            f"destroy {record.destroy_seconds:.1f} s"
        )
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in record.restore_steps.items())
        goal = "met" if record.restore_seconds <= record.goal_seconds else "MISSED"
        console.print(
            f"  recovery time {record.restore_seconds:.1f} s ({steps}); goal "
            f"{record.goal_seconds:.0f} s {goal}"
        )
        checksums = (
            "equal" if record.checksums_equal else "DIFFER: " + ", ".join(record.tables_differing)
        )
        console.print(
            f"  records lost {record.records_lost}, vectors lost {record.points_lost}, "
            f"checksums {checksums}, "
            f"verification {'OK' if record.verification_ok else 'FAILED'}"
        )
        console.print(f"  record: {path}")
    if not record.passed:
        raise typer.Exit(1)


def _print_check(found: dict[str, Any]) -> None:
    console.print(f"schema revision {found['revision']} (this release ships {found['head']})")
    for table, rows in sorted(found["tables"].items()):
        console.print(f"  {table:<24} {rows:>10}")
    points = found["points"]
    if found["revision"] is not None:
        console.print(
            f"chunk rows {found['chunks']}, vector points "
            f"{points if points is not None else 'unknown: ' + found.get('vector_store', '')} "
            "(counts; `ragops store check` compares them by id)",
            markup=False,
        )
    if "audit" in found:
        audit = found["audit"]
        console.print(
            f"audit trail: {audit['events']} chained events, "
            f"{'chain intact' if not audit['problems'] else 'CHAIN BROKEN'}"
        )
        console.print(f"documents without chunk rows: {len(found['documents_without_chunks'])}")


def _problems(found: dict[str, Any]) -> list[str]:
    """What must be fixed before traffic is switched to the checked database."""
    problems = []
    if found["revision"] is None:
        problems.append("the database was never migrated: it is not a ragops database")
    elif found["revision"] != found["head"]:
        problems.append(
            f"schema {found['revision']} differs from this release's {found['head']}: "
            "run `ragops db upgrade` (older) or deploy the matching release (newer)"
        )
    if found["points"] is not None and found["points"] < found["chunks"]:
        problems.append(
            f"{found['chunks'] - found['points']} chunk rows have no vector point: the vectors "
            "are older than the database; re-ingest the affected documents"
        )
    chunkless = found.get("documents_without_chunks", [])
    if chunkless:
        problems.append(
            f"{len(chunkless)} documents have no chunk rows for their current version and answer "
            f"nothing (ingest their files again): {', '.join(chunkless[:5])}"
            + (f" and {len(chunkless) - 5} more" if len(chunkless) > 5 else "")
        )
    broken = found.get("audit", {}).get("problems", [])
    if broken:
        problems.append(
            f"the audit trail's hash chain is broken ({len(broken)} break(s)): a row was "
            f"changed, deleted or moved; `ragops audit-log verify` lists them. First: {broken[0]}"
        )
    return problems


async def _rows_and_chain(settings: Settings, found: dict[str, Any]) -> None:
    """Documents whose current version lost its chunk rows (`ragops store check`'s query) and
    the audit trail's hash chain (`ragops audit-log verify`'s check)."""
    from ragops.auth.chain import verify
    from ragops.consistency.service import chunkless_documents
    from ragops.db import Database

    db = Database(settings)
    try:
        found["documents_without_chunks"] = await chunkless_documents(db, None)
        chain = await verify(db)
    finally:
        await db.dispose()
    found["audit"] = {"events": chain.rows, "problems": list(chain.problems)}


async def _check(settings: Settings) -> dict[str, Any]:
    from ragops.backup.checks import chunk_ids
    from ragops.backup.database import table_counts
    from ragops.db import migrate
    from ragops.providers.embedder.factory import create_embedder, resolve_dimension
    from ragops.providers.vectorstore.base import VectorStoreError
    from ragops.providers.vectorstore.factory import create_vector_store

    url = settings.resolved_database_url
    found: dict[str, Any] = {
        "revision": await migrate.current_revision(settings),
        "head": migrate.head_revision(),
        "tables": {},
        "chunks": 0,
        "points": None,
    }
    if found["revision"] is None:
        return found
    found["tables"] = await table_counts(url)
    chunks = len(await chunk_ids(url)) if "chunks" in found["tables"] else 0
    found["chunks"] = chunks
    if found["revision"] == found["head"]:  # an older schema: `db upgrade` first, then again
        await _rows_and_chain(settings, found)
    embedder = create_embedder(settings)
    try:
        store = create_vector_store(settings, embedder)
    except VectorStoreError as exc:
        found["points"] = None
        found["vector_store"] = exc.message
        return found
    try:
        await store.ensure_ready(await resolve_dimension(embedder))
        total = getattr(store, "total_points", None)
        found["points"] = await total() if total is not None else None
    finally:
        await store.aclose()
    return found


def check(
    database_url: Annotated[
        str | None,
        typer.Option(
            help="The database to check (default: RAGOPS_DATABASE_URL), e.g. a "
            "restored branch before switching to it."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """After a restore made outside ragops (a provider's point-in-time restore): schema
    revision against this release, row counts, chunk rows against vector points (counts),
    documents without chunk rows, and the audit trail's hash chain."""
    settings = load_settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    found = _run(_check(settings))
    problems = _problems(found)
    if as_json:
        print(json.dumps(found | {"problems": problems}))
    else:
        _print_check(found)
        for line in problems:
            console.print("[red]problem:[/] ", end="")
            console.print(line, markup=False, highlight=False)
    if problems:
        raise typer.Exit(1)
