"""`ragops db`: migrate the database up or down and show its revision; archive old chat
sessions and run routine maintenance (both safe while the service runs; docs/database.md);
first aid (`status`, `slow-queries`, `kill`, `pool reset`, in `cli.dbaid`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

import typer

from ragops.cli.runner import console, fail, load_settings

db_app = typer.Typer(help="Database migrations and maintenance.", no_args_is_help=True)


def _now() -> str:
    """The current UTC time in ISO 8601 (to the second), which starts the summary lines of
    the scheduled commands so their cron logs say when each run ended."""
    return f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}"


def _summary(text: str) -> None:
    console.print(f"{_now()} {text}", soft_wrap=True, highlight=False, markup=False)


@db_app.command()
def upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Migrate up to a revision (default: the newest)."""
    from ragops.db import migrate

    settings = load_settings()
    try:
        asyncio.run(migrate.upgrade(settings, revision))
    except Exception as exc:
        fail(f"migration failed: {exc}")
    console.print(f"database at {asyncio.run(migrate.current_revision(settings))}")


@db_app.command()
def downgrade(revision: Annotated[str, typer.Argument(help="Target revision, or base.")]) -> None:
    """Migrate down to a revision ("base" removes every table)."""
    from ragops.db import migrate

    settings = load_settings()
    try:
        asyncio.run(migrate.downgrade(settings, revision))
    except Exception as exc:
        fail(f"migration failed: {exc}")
    console.print(f"database at {asyncio.run(migrate.current_revision(settings))}")


@db_app.command()
def current() -> None:
    """Show the database's revision and the newest one shipped."""
    from ragops.db import migrate

    settings = load_settings()
    try:
        revision = asyncio.run(migrate.current_revision(settings))
    except Exception as exc:
        fail(f"cannot read the database: {exc}")
    console.print(f"current: {revision or 'none'} · head: {migrate.head_revision()}")


@db_app.command()
def archive(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Sessions untouched this long: 30d, 12h, 2w.")
    ] = "30d",
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="Sessions a batch.")] = 500,
) -> None:
    """Move chat sessions not updated for --older-than, with their messages and feedback,
    to the archive tables, in batches of short transactions."""
    from ragops.auth.models import parse_duration
    from ragops.chat.archive import archive_sessions
    from ragops.db import Database, migrate

    try:
        age = parse_duration(older_than)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--older-than") from exc
    settings = load_settings()

    async def work() -> str:
        if settings.auto_migrate:
            await migrate.upgrade(settings)
        db = Database(settings)
        try:
            moved = await archive_sessions(db=db, older_than=age, batch_size=batch_size)
        finally:
            await db.dispose()
        return (
            f"archived {moved.sessions} sessions, {moved.messages} messages and "
            f"{moved.feedback} feedback entries in {moved.batches} batches"
        )

    try:
        summary = asyncio.run(work())
    except Exception as exc:
        fail(f"archiving failed at {_now()}: {exc}")
    _summary(summary)


@db_app.command()
def maintain() -> None:
    """Refresh planner statistics and reclaim space: VACUUM (ANALYZE) on PostgreSQL,
    ANALYZE and VACUUM on SQLite."""
    from ragops.db.maintenance import maintain as run_maintenance

    settings = load_settings()
    try:
        done = asyncio.run(run_maintenance(settings))
    except Exception as exc:
        fail(f"maintenance failed at {_now()}: {exc}")
    _summary("ran " + ", ".join(done))


def _first_aid() -> None:
    from ragops.cli import dbaid

    db_app.command()(dbaid.status)
    db_app.command("slow-queries")(dbaid.slow_queries)
    db_app.command()(dbaid.kill)
    db_app.add_typer(dbaid.pool_app, name="pool")


_first_aid()
