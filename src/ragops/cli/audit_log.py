"""`ragops audit-log`: show the audit trail, verify its hash chain, prune old events.

Like `keys`, these use only the database, so they work beside a running server. `verify`
exits 1 when the chain is broken (a changed, deleted or reordered row) and says where.
`prune` exports events older than `--before` to a file, then removes them; it connects as
the owner role (`RAGOPS_MIGRATION_DATABASE_URL`), the only one allowed to.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Column, Table
from rich.text import Text

from ragops.cli.keys import _duration_option, tenant_option, with_database
from ragops.cli.runner import configure_cli_logging, console, fail, load_settings

if TYPE_CHECKING:
    from ragops.auth.models import AuditEventRead
    from ragops.config import Settings
    from ragops.db import Database

audit_log_app = typer.Typer(help="The audit trail.", invoke_without_command=True)


@audit_log_app.callback(invoke_without_command=True)
def audit_log(
    ctx: typer.Context,
    since: Annotated[
        str, typer.Option("--since", callback=_duration_option, help="How far back: 24h, 7d.")
    ] = "24h",
    tenant: Annotated[
        str | None,
        typer.Option("--tenant", "-t", callback=tenant_option, help="Only this tenant's events."),
    ] = None,
    action: Annotated[str | None, typer.Option("--action", help="Only this action.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="Most events.")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Show the audit trail (oldest first): auth failures, key changes, ingestion, deletion;
    `verify` checks its hash chain, `prune` exports and removes old events."""
    if ctx.invoked_subcommand is not None:
        return
    from ragops.auth.audit import list_events
    from ragops.auth.models import parse_duration
    from ragops.db.base import utcnow

    async def work(db: Database, _: Settings) -> list[AuditEventRead]:
        start = utcnow() - parse_duration(since)
        return await list_events(db=db, tenant_id=tenant, since=start, action=action, limit=limit)

    events = with_database(work)
    if as_json:
        for event in events:
            print(event.model_dump_json())
        return
    table = Table(
        Column("at", no_wrap=True),
        "tenant",
        Column("key", no_wrap=True),
        "action",
        "target",
        "outcome",
        "client",
        "request",
    )
    for event in events:
        style = "green" if event.outcome == "success" else "red"
        cells = [event.at.strftime("%Y-%m-%d %H:%M:%S"), event.tenant_id, event.actor_key_id]
        cells += [event.action, event.target, event.outcome, event.client_address]
        cells += [event.request_id]
        row = [Text(cell or "-") for cell in cells]
        row[5].stylize(style)
        table.add_row(*row)
    console.print(table)


@audit_log_app.command()
def verify(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Check the hash chain over the audit events; exit 1 if a row was changed, deleted or
    moved."""
    from ragops.auth.chain import Verification
    from ragops.auth.chain import verify as verify_chain

    async def work(db: Database, _: Settings) -> Verification:
        return await verify_chain(db)

    result = with_database(work)
    if as_json:
        print(
            json.dumps(
                {
                    "intact": result.intact,
                    "rows": result.rows,
                    "first_seq": result.first_seq,
                    "last_seq": result.last_seq,
                    "unchained": result.unchained,
                    "problems": result.problems,
                }
            )
        )
    else:
        span = f" (sequence {result.first_seq} to {result.last_seq})" if result.rows else ""
        console.print(f"{result.rows} chained events{span}", markup=False)
        if result.unchained:
            console.print(
                f"{result.unchained} events without a hash (written by a release before "
                "migration 0007)",
                markup=False,
            )
        for problem in result.problems:
            console.print(f"BROKEN: {problem}", markup=False, style="red")
        if result.intact:
            console.print("the audit chain is intact", markup=False)
    if not result.intact:
        raise typer.Exit(1)


@audit_log_app.command()
def prune(
    before: Annotated[
        str,
        typer.Option("--before", callback=_duration_option, help="Events older than: 365d."),
    ],
    export: Annotated[Path, typer.Option("--export", help="New file for the removed events.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Export events older than --before to a file (JSON lines), then remove them (owner role
    only; the chain must verify first)."""
    from ragops.auth.audit import record_event
    from ragops.auth.models import parse_duration
    from ragops.auth.retention import prune as run_prune
    from ragops.db import Database, migrate
    from ragops.db.base import utcnow
    from ragops.errors import RagopsError

    cutoff = utcnow() - parse_duration(before)
    if not yes and not typer.confirm(
        f"export and remove audit events before {cutoff:%Y-%m-%d %H:%M} UTC?"
    ):
        fail("nothing removed")
    settings = load_settings()
    configure_cli_logging(settings)

    async def work() -> str:
        if settings.auto_migrate:
            await migrate.upgrade(settings)
        result = await run_prune(settings, before=cutoff, export=export)
        db = Database(settings)
        try:
            await record_event(
                db=db,
                action="audit.prune",
                target=str(result.through_seq or 0),
                detail={"rows": result.rows, "export_sha256": result.export_sha256},
            )
        finally:
            await db.dispose()
        return (
            f"exported {result.rows} events to {result.export} (sha256 "
            f"{result.export_sha256}) and removed them"
        )

    try:
        console.print(asyncio.run(work()), markup=False)
    except RagopsError as exc:
        fail(exc.message)
