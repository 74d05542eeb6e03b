"""`ragops db`: migrate the database up or down and show its revision."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from ragops.cli.runner import console, fail, load_settings

db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)


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
