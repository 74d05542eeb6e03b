"""`ragops keys` (create, list, revoke, rotate) and `ragops audit-log`: API keys and the audit
trail. They need only the database, not the vector store, so they also work beside a server
that holds the embedded Qdrant storage.

`keys create` and `keys rotate` print the new key once, on stdout; only its hash is stored.
Every key change from here is an audit event with interface "cli".
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.table import Column, Table
from rich.text import Text

from ragops.cli.runner import CLI_TENANT, configure_cli_logging, console, fail, load_settings

if TYPE_CHECKING:
    from ragops.auth.models import ApiKeyCreated, ApiKeyRead
    from ragops.config import Settings
    from ragops.db import Database

T = TypeVar("T")

keys_app = typer.Typer(help="API keys: create, list, revoke, rotate.", no_args_is_help=True)


def tenant_option(value: str | None) -> str | None:
    """Typer callback: a valid tenant id (or None)."""
    from ragops.auth.models import validate_tenant

    if value is None:
        return None
    try:
        return validate_tenant(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _key_name_option(value: str) -> str:
    """Typer callback: a key's label that fits (a longer one is refused, never cut)."""
    from ragops.auth.models import validate_key_name

    try:
        return validate_key_name(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _duration_option(value: str | None) -> str | None:
    from ragops.auth.models import parse_duration

    if value is not None:
        try:
            parse_duration(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
    return value


def _lifetime(value: str | None) -> timedelta | None:
    from ragops.auth.models import parse_duration

    return parse_duration(value) if value is not None else None


def with_database(work: Callable[[Database, Settings], Awaitable[T]]) -> T:
    """Migrate, open the database, run `work`, close it; map errors to one line and exit 1."""
    from sqlalchemy.exc import SQLAlchemyError

    from ragops.db import Database, migrate
    from ragops.errors import RagopsError

    settings = load_settings()
    configure_cli_logging(settings)

    async def main() -> T:
        if settings.auto_migrate:
            await migrate.upgrade(settings)
        db = Database(settings)
        try:
            return await work(db, settings)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except RagopsError as exc:
        fail(exc.message)
    except ValueError as exc:
        fail(str(exc))
    except (OSError, SQLAlchemyError) as exc:
        fail(f"cannot use the database: {exc}")


TenantOpt = Annotated[
    str, typer.Option("--tenant", "-t", callback=tenant_option, help="The key's tenant.")
]
ExpiresOpt = Annotated[
    str | None,
    typer.Option(
        "--expires", callback=_duration_option, help="Lifetime: 90d, 12h, 30m, 2w; none = never."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _print_created(created: ApiKeyCreated, as_json: bool) -> None:
    if as_json:
        print(created.model_dump_json())
        return
    key = created.api_key
    console.print(f"API key {key.id} · tenant {key.tenant_id} · scopes {','.join(key.scopes)}")
    expires = key.expires_at.isoformat() if key.expires_at else "never"
    console.print(f"expires: {expires}", highlight=False)
    if created.previous is not None and created.previous.expires_at is not None:
        until = created.previous.expires_at.isoformat()
        console.print(f"the old key {created.previous.id} keeps working until {until}")
    console.print("\nStore the key now: it is shown only this once.\n")
    print(created.key)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def _keys_table(keys: list[ApiKeyRead]) -> Table:
    table = Table(
        Column("id", no_wrap=True),
        Column("prefix", no_wrap=True),
        "tenant",
        "name",
        "scopes",
        "status",
        "expires",
        "last used",
    )
    for key in keys:
        cells = [key.id, key.prefix + "…", key.tenant_id, key.name, ",".join(key.scopes)]
        cells += [key.status, _when(key.expires_at), _when(key.last_used_at)]
        table.add_row(*(Text(cell) for cell in cells))
    return table


@keys_app.command("create")
def keys_create(
    scopes: Annotated[str, typer.Option("--scopes", help="Comma-separated: chat,ingest,admin.")],
    tenant: TenantOpt = CLI_TENANT,
    expires: ExpiresOpt = None,
    name: Annotated[
        str,
        typer.Option(
            "--name", callback=_key_name_option, help="A label for the key (128 at most)."
        ),
    ] = "",
    as_json: JsonOpt = False,
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    from ragops.auth import service
    from ragops.auth.models import parse_scopes

    try:
        granted = parse_scopes(scopes)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--scopes") from exc

    async def work(db: Database, _: Settings) -> ApiKeyCreated:
        return await service.create_key(
            db=db, tenant_id=tenant, scopes=granted, name=name, lifetime=_lifetime(expires)
        )

    _print_created(with_database(work), as_json)


@keys_app.command("list")
def keys_list(
    tenant: Annotated[
        str | None,
        typer.Option("--tenant", "-t", callback=tenant_option, help="Only this tenant's keys."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List keys (never the keys themselves: their prefixes)."""
    from ragops.auth import service

    async def work(db: Database, _: Settings) -> list[ApiKeyRead]:
        return await service.list_keys(db=db, tenant_id=tenant)

    keys = with_database(work)
    if as_json:
        print(json.dumps([key.model_dump(mode="json") for key in keys]))
        return
    console.print(_keys_table(keys))


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id.")]) -> None:
    """Revoke a key at once."""
    from ragops.auth import service

    async def work(db: Database, _: Settings) -> ApiKeyRead:
        return await service.revoke_key(db=db, key_id=key_id, tenant_id=None)

    revoked = with_database(work)
    console.print(f"revoked {revoked.id} (tenant {revoked.tenant_id})")


@keys_app.command("rotate")
def keys_rotate(
    key_id: Annotated[str, typer.Argument(help="The key's id.")],
    expires: ExpiresOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue a successor and print it once; the old key works for the overlap, then expires."""
    from ragops.auth import service

    async def work(db: Database, settings: Settings) -> ApiKeyCreated:
        return await service.rotate_key(
            db=db,
            key_id=key_id,
            tenant_id=None,
            overlap=timedelta(hours=settings.api_key_rotation_overlap_hours),
            lifetime=_lifetime(expires),
        )

    _print_created(with_database(work), as_json)
