"""`ragops collections` and `ragops documents list|delete`.

Beside a running server (or with `--url`) they go through its API (see `cli.remote`); without
one, listing reads the database only and deleting opens the runtime. Ids are never cut in the
table, and `documents delete` takes any unique prefix of an id.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.table import Column, Table
from rich.text import Text

from ragops.cli.keys import tenant_option, with_database
from ragops.cli.remote import KeyOpt, UrlOpt, api_client, check_tenant, find_remote
from ragops.cli.runner import CLI_TENANT, console, fail, with_runtime

if TYPE_CHECKING:
    from ragops.config import Settings
    from ragops.db import Database
    from ragops.runtime import Runtime

documents_app = typer.Typer(help="List and delete documents.", no_args_is_help=True)

Tenant = Annotated[
    str | None,
    typer.Option(
        "--tenant",
        "-t",
        callback=tenant_option,
        help=f"The tenant acted for [default: {CLI_TENANT}].",
        show_default=False,
    ),
]
PAGE = 500


def collection_option(value: str | None) -> str | None:
    """Typer callback: a valid collection name (or None)."""
    from ragops.config.names import validate_collection_name

    if value is None:
        return None
    try:
        return validate_collection_name(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


CollectionOpt = Annotated[
    str | None,
    typer.Option("--collection", "-c", callback=collection_option, help="Collection."),
]


async def _all_documents(
    db: Database, tenant: str, collection: str | None = None
) -> list[dict[str, Any]]:
    from ragops.documents import catalog

    items: list[dict[str, Any]] = []
    while True:
        page = await catalog.list_documents(
            db=db, tenant_id=tenant, collection=collection, limit=PAGE, offset=len(items)
        )
        items += [item.model_dump(mode="json") for item in page.items]
        if not page.items or len(items) >= page.total:
            return items


def resolve_document_id(given: str, documents: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The one document whose id is `given` or starts with it; exit 1 when none or several."""
    prefix = given.strip().lower()
    if not prefix:
        fail("give a document id (or a unique prefix of one)")
    exact = [d for d in documents if d["id"] == prefix]
    matches = exact or [d for d in documents if str(d["id"]).startswith(prefix)]
    if not matches:
        fail(f"document {given} not found")
    if len(matches) > 1:
        shown = ", ".join(f"{d['id']} ({d['source']})" for d in matches[:5])
        more = f" and {len(matches) - 5} more" if len(matches) > 5 else ""
        fail(
            f"the id prefix {given!r} is ambiguous: it matches {len(matches)} documents: "
            f"{shown}{more}; give more of the id"
        )
    return matches[0]


@documents_app.command("list")
def documents_list(
    collection: CollectionOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    tenant: Tenant = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """List documents, newest first (ids in full)."""
    remote = find_remote(url, api_key)
    if remote is not None:
        check_tenant(remote, tenant)
        with api_client(remote, tenant, ["chat"]) as api:
            items = api.documents(collection)
    else:

        async def work(db: Database, _: Settings) -> list[dict[str, Any]]:
            return await _all_documents(db, tenant or CLI_TENANT, collection)

        items = with_database(work)
    if as_json:
        print(json.dumps({"items": items, "total": len(items)}))
        return
    table = Table(
        Column("id", no_wrap=True, min_width=36),  # never cut: `documents delete` takes it
        Column("collection", overflow="fold", min_width=10),
        Column("source", overflow="fold", ratio=2),
        Column("title", overflow="fold", ratio=2),
        Column("chunks", justify="right", no_wrap=True, min_width=6),
        Column("ver", justify="right", no_wrap=True, min_width=3),
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    for item in items:
        cells = [item["id"], item["collection"], item["source"], item["title"]]
        cells += [str(item["chunk_count"]), str(item["version"])]
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)


@documents_app.command("delete")
def documents_delete(
    document_id: Annotated[str, typer.Argument(help="The document's id, or a unique prefix.")],
    tenant: Tenant = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Delete a document, its chunks and its vectors."""
    remote = find_remote(url, api_key)
    if remote is not None:
        check_tenant(remote, tenant)
        with api_client(remote, tenant, ["chat", "ingest"]) as api:
            document = resolve_document_id(document_id, api.documents(None))
            api.call("DELETE", f"/v1/documents/{document['id']}")
    else:
        document = with_runtime(_delete_here(document_id, tenant or CLI_TENANT))
    console.print(f"deleted {document['id']} ({document['source']})", markup=False)


def _delete_here(given: str, tenant: str) -> Any:
    async def work(runtime: Runtime) -> dict[str, Any]:
        from ragops.auth.audit import record_event
        from ragops.documents import service as documents

        document = resolve_document_id(given, await _all_documents(runtime.db, tenant))
        await documents.delete_document(
            db=runtime.db, store=runtime.store, tenant_id=tenant, document_id=document["id"]
        )
        await record_event(
            db=runtime.db,
            action="documents.delete",
            tenant_id=tenant,
            target=document["id"],
            detail={"interface": "cli"},
        )
        return document

    return work


def collections(
    tenant: Tenant = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """List collections and their document counts."""
    remote = find_remote(url, api_key)
    if remote is not None:
        check_tenant(remote, tenant)
        with api_client(remote, tenant, ["chat"]) as api:
            found = [
                (c["name"], int(c["document_count"]))
                for c in api.call("GET", "/v1/collections").json()
            ]
    else:

        async def work(db: Database, _: Settings) -> list[tuple[str, int]]:
            from ragops.documents import catalog

            listed = await catalog.list_collections(db=db, tenant_id=tenant or CLI_TENANT)
            return [(c.name, c.document_count) for c in listed]

        found = with_database(work)
    table = Table("collection", "documents")
    for name, count in found:
        table.add_row(Text(name), str(count))
    console.print(table)
