"""`ragops rollback drill`: practise a rollback between two releases built from git."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ragops.cli.runner import console, fail

rollback_app = typer.Typer(help="Rollback drills.", no_args_is_help=True)


@rollback_app.command()
def drill(
    from_ref: Annotated[
        str, typer.Option("--from", help="The newer release (a git ref) rolled back from.")
    ] = "HEAD",
    to_ref: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="The older release (default: the previous vX.Y.Z tag, else the parent commit).",
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="A scratch PostgreSQL database to run on (default: SQLite)."),
    ] = None,
    migration_database_url: Annotated[
        str | None,
        typer.Option(
            help="The owner role's URL of that database: migrations run as the owner and the "
            "service as the --database-url role (RAGOPS_MIGRATION_DATABASE_URL)."
        ),
    ] = None,
    keep_schema: Annotated[
        bool,
        typer.Option(
            "--keep-schema",
            help="Run the older release on the newer schema (start-up migration off) instead "
            "of downgrading.",
        ),
    ] = False,
    workdir: Annotated[Path, typer.Option(help="Builds and scratch data.")] = Path(
        "var/rollback-drill"
    ),
    out: Annotated[Path, typer.Option(help="Where the JSON record goes.")] = Path("var/drills"),
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="Loopback port of the servers.")
    ] = 8765,
) -> None:
    """Build both releases, run the newer one and write records, roll back to the older one
    and check them, then roll forward; prints each step's time and writes a JSON record."""
    from ragops.release.builds import BuildError
    from ragops.release.drill import run_rollback_drill, write_record

    if migration_database_url and not database_url:
        fail("--migration-database-url needs --database-url (the service's role)")
    for url in (database_url, migration_database_url):
        if url and not url.startswith(("postgresql://", "postgresql+")):
            fail(
                f"not a PostgreSQL URL: {url.split('://')[0]}://...; the drill runs on SQLite "
                "without --database-url, or on a scratch postgresql+asyncpg://... database"
            )
    env = {"RAGOPS_DATABASE_URL": database_url} if database_url else {}
    if migration_database_url:
        env["RAGOPS_MIGRATION_DATABASE_URL"] = migration_database_url
    try:
        record = run_rollback_drill(
            newer_ref=from_ref,
            older_ref=to_ref,
            workdir=workdir.resolve(),
            env=env,
            port=port,
            echo=lambda line: console.print(f"  {line}", markup=False),
            keep_schema=keep_schema,
        )
    except BuildError as exc:
        fail(str(exc))
    path = write_record(record, out)
    console.print(
        f"rollback {record.newer['ref']} ({record.newer['commit'][:7]}, schema "
        f"{record.newer['schema']}) -> {record.older['ref']} ({record.older['commit'][:7]}, "
        f"schema {record.older['schema']}){' with a schema downgrade' if record.downgraded else ''}"
        f"{' on the newer schema' if record.older_on_newer_schema else ''}"
    )
    console.print(f"  records written on the newer: {json.dumps(record.records)}")
    console.print(f"  records written on the older: {json.dumps(record.records_written_on_older)}")
    console.print(
        f"  after rollback: {len(record.missing_after_rollback)} missing, answers "
        f"{'yes' if record.answers_after_rollback else 'NO'}; after roll forward: "
        f"{len(record.missing_after_roll_forward)} missing, answers "
        f"{'yes' if record.answers_after_roll_forward else 'NO'}; audit chain "
        f"{'intact' if record.audit_chain_after_roll_forward.get('intact') else 'BROKEN'}"
    )
    console.print(f"  total {sum(record.steps.values()):.1f} s; record: {path}")
    if not record.passed:
        for line in record.missing_after_rollback + record.missing_after_roll_forward:
            console.print(f"  lost: {line}", markup=False)
        for line in record.audit_chain_after_roll_forward.get("problems", []):
            console.print(f"  audit chain: {line}", markup=False)
        raise typer.Exit(1)
