"""`ragops collections` and `ragops documents list|delete|reindex`.

Beside a running server (or with `--url`) they go through its API (see `cli.remote`); without
one, listing reads the database only and deleting opens the runtime. Ids are never cut in the
table, and `documents delete` takes any unique prefix of an id. `documents reindex` rebuilds
the vector points from the database (`documents.reindex`): through a server's admin API for
the key's tenant, or here (opening the runtime) for a tenant or, with `--all-tenants`, all.
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
from ragops.cli.runner import CLI_TENANT, console, counted, fail, with_runtime

if TYPE_CHECKING:
    from ragops.config import Settings
    from ragops.db import Database
    from ragops.documents.models import ReindexResult
    from ragops.runtime import Runtime

documents_app = typer.Typer(help="List, delete and reindex documents.", no_args_is_help=True)

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

        async def work(db: Database, settings: Settings) -> list[dict[str, Any]]:
            from ragops.documents import catalog

            owner = tenant or CLI_TENANT
            if collection is not None:  # as the API: an unknown collection is an error
                await catalog.require_collection(
                    db=db, tenant_id=owner, name=collection, default=settings.default_collection
                )
            return await _all_documents(db, owner, collection)

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


@documents_app.command("reindex")
def documents_reindex(
    collection: CollectionOpt = None,
    tenant: Tenant = None,
    all_tenants: Annotated[
        bool,
        typer.Option("--all-tenants", help="Every tenant's collections (not through a server)."),
    ] = False,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size", help="Chunk rows read, embedded and written together (1-4096)."
        ),
    ] = 256,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Rebuild the vector store's points from the database (after a change of embedding
    model, turning sentence vectors on, or a lost store); safe to run again."""
    # the option's default and range are written out (models.REINDEX_BATCH and
    # REINDEX_MAX_BATCH): the models are imported only here, so `ragops --help` skips them
    from ragops.documents.models import REINDEX_MAX_BATCH, ReindexResult

    if not 1 <= batch_size <= REINDEX_MAX_BATCH:
        fail(f"--batch-size must be between 1 and {REINDEX_MAX_BATCH}, not {batch_size}")
    if all_tenants and tenant is not None:
        fail("give either --tenant or --all-tenants, not both")
    remote = find_remote(url, api_key)
    if remote is not None:
        if all_tenants:
            fail(
                f"--all-tenants cannot go through {remote.where}: its API rebuilds one "
                "tenant (the key's). Stop the service and run the command again, or run it "
                "once per tenant"
            )
        check_tenant(remote, tenant)
        body: dict[str, Any] = {"collection": collection, "batch_size": batch_size}
        with api_client(remote, tenant, ["admin"]) as api:
            response = api.call("POST", "/v1/admin/reindex", json=body)
        result = ReindexResult.model_validate(response.json())
    else:
        scope = None if all_tenants else (tenant or CLI_TENANT)
        result = with_runtime(_reindex_here(scope, collection, batch_size, shown=not as_json))
    if as_json:
        print(result.model_dump_json())
        return
    who = f"tenant {result.tenant_id}" if result.tenant_id else "every tenant"
    console.print(
        f"reindexed {who}: {counted(result.collections, 'collection')}, "
        f"{counted(result.documents, 'document')}, {counted(result.chunks, 'chunk')} "
        f"in {result.seconds:.1f} s"
        + (" (with sentence vectors)" if result.sentence_vectors else "")
        + (" (with the second embedder's vectors)" if result.second_vectors else ""),
        markup=False,
        highlight=False,
    )
    if result.warning:
        console.print(f"warning: {result.warning}", markup=False, highlight=False)


def _reindex_here(
    tenant: str | None, collection: str | None, batch_size: int, *, shown: bool
) -> Any:
    async def work(runtime: Runtime) -> ReindexResult:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        from ragops.auth.audit import record_event
        from ragops.documents.reindex import reindex

        with Progress(
            "reindexing",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not shown,  # --json prints the result alone
        ) as bar:
            task = bar.add_task("chunks", total=None)

            def advance(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            result = await reindex(
                runtime.ingest_deps,
                tenant_id=tenant,
                collection=collection,
                batch_size=batch_size,
                progress=advance,
            )
        await record_event(
            db=runtime.db,
            action="admin.documents.reindex",
            tenant_id=tenant,
            target=collection,
            detail={"documents": result.documents, "chunks": result.chunks, "interface": "cli"},
        )
        return result

    return work
