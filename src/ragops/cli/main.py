"""The `ragops` command: serve, ingest, ask, collections, documents, db, keys, audit-log and
audit. Every command acting on data takes `--tenant` (default "default")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from ragops import __version__
from ragops.audit.cli import audit_app
from ragops.cli.db import db_app
from ragops.cli.keys import audit_log, keys_app, tenant_option
from ragops.cli.runner import CLI_TENANT, console, fail, load_settings, with_runtime
from ragops.config.names import validate_collection_name
from ragops.documents.files import collect_files, source_name

if TYPE_CHECKING:
    from ragops.chat.models import ChatResponse
    from ragops.documents.models import IngestOutcome
    from ragops.runtime import Runtime

app = typer.Typer(
    name="ragops",
    help="A RAG chatbot API with its operations built in.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
documents_app = typer.Typer(help="List and delete documents.", no_args_is_help=True)
app.add_typer(documents_app, name="documents")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.command("audit-log")(audit_log)
app.add_typer(audit_app, name="audit")

Tenant = Annotated[
    str, typer.Option("--tenant", "-t", callback=tenant_option, help="The tenant acted for.")
]


def _collection(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return validate_collection_name(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (RAGOPS_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (RAGOPS_PORT).", min=1, max=65535)] = None,
) -> None:
    """Start the HTTP server (migrates and, on first start, ingests the demo corpus)."""
    import uvicorn

    from ragops.config.production import ProductionConfigError
    from ragops.main import create_app
    from ragops.security.slow_clients import uvicorn_options

    settings = load_settings()
    try:
        application = create_app(settings)
    except ProductionConfigError as exc:
        fail(str(exc))
    bind_host = host or settings.host
    bind_port = port or settings.port
    base = f"http://{bind_host}:{bind_port}"
    console.print(f"[bold]ragops {__version__}[/]")
    console.print(f"  chat page    {base}/")
    console.print(f"  API          {base}/v1")
    console.print(f"  OpenAPI docs {base}/docs")
    console.print(f"  ops console  {base}/ops")
    mode = "LLM at " + settings.llm_base_url if settings.llm_base_url else "extractive (no LLM)"
    console.print(f"  answers      {mode}")
    uvicorn.run(
        application,
        host=bind_host,
        port=bind_port,
        log_config=None,
        proxy_headers=False,  # client addresses come from RAGOPS_TRUSTED_PROXIES only
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
        **uvicorn_options(settings),
    )


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.")],
    collection: Annotated[
        str | None, typer.Option("--collection", "-c", callback=_collection, help="Collection.")
    ] = None,
    tenant: Tenant = CLI_TENANT,
) -> None:
    """Ingest files (txt, md, html, pdf); folders are searched recursively."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        fail(f"no such file or folder: {', '.join(missing)}")
    files = collect_files(paths)
    if not files:
        fail("no ingestible files (txt, md, html, pdf) under the given paths")
    roots = {p: p for p in paths if p.is_dir()}

    from ragops.auth.audit import record_event
    from ragops.documents import service as documents

    async def work(runtime: Runtime) -> list[IngestOutcome]:
        name = collection or runtime.settings.default_collection
        outcomes: list[IngestOutcome] = []
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
        ) as progress:
            task = progress.add_task("ingesting", total=len(files))
            for path in files:
                root = next((r for r in roots if path.is_relative_to(r)), None)
                source = source_name(path, root)
                progress.update(task, description=source[:40])
                try:
                    data = path.read_bytes()
                except OSError as exc:
                    fail(f"{path}: cannot read: {exc.strerror}")
                outcomes += await documents.ingest_batch(
                    runtime.ingest_deps,
                    tenant_id=tenant,
                    collection=name,
                    files=[(source, data, None)],
                )
                progress.advance(task)
        await record_event(
            db=runtime.db,
            action="documents.ingest",
            outcome="success" if any(o.status != "error" for o in outcomes) else "failure",
            tenant_id=tenant,
            target=name,
            detail={
                "interface": "cli",
                "files": [
                    {"filename": o.filename, "status": o.status, "document_id": o.document.id}
                    if o.document
                    else {"filename": o.filename, "status": o.status}
                    for o in outcomes
                ],
            },
        )
        return outcomes

    outcomes = with_runtime(work)
    table = Table("file", "status", "document / reason")
    for outcome in outcomes:
        detail = (
            outcome.document.id
            if outcome.document
            else (outcome.error.message if outcome.error else "")
        )
        style = "red" if outcome.status == "error" else "green"
        table.add_row(outcome.filename, f"[{style}]{outcome.status}[/]", detail)
    console.print(table)
    failed = sum(1 for o in outcomes if o.status == "error")
    if failed:
        fail(f"{failed} of {len(outcomes)} files were not ingested")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    collection: Annotated[
        str | None, typer.Option("--collection", "-c", callback=_collection, help="Collection.")
    ] = None,
    session: Annotated[str | None, typer.Option(help="Continue this session.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON.")] = False,
    tenant: Tenant = CLI_TENANT,
) -> None:
    """Ask a question and print the cited answer."""
    from ragops.chat import service as chat
    from ragops.observability.context import new_request_id

    async def work(runtime: Runtime) -> ChatResponse:
        return await chat.answer(
            runtime.chat_deps,
            tenant_id=tenant,
            question=question,
            session_id=session,
            collection=collection,
            request_id=new_request_id(),
        )

    result = with_runtime(work)
    if as_json:
        print(result.model_dump_json())
        return
    console.print(result.answer, markup=False, highlight=False)
    console.print(f"[dim]mode: {result.mode} · session {result.session_id}[/]")
    for citation in result.citations:
        section = f" › {citation.section}" if citation.section else ""
        console.print(
            f"  [{citation.index}] {citation.title}{section} ({citation.score:.2f})",
            markup=False,
            highlight=False,
        )


@app.command()
def collections(tenant: Tenant = CLI_TENANT) -> None:
    """List collections and their document counts."""
    from ragops.documents import catalog

    async def work(runtime: Runtime) -> list[tuple[str, int]]:
        found = await catalog.list_collections(db=runtime.db, tenant_id=tenant)
        return [(c.name, c.document_count) for c in found]

    table = Table("collection", "documents")
    for name, count in with_runtime(work):
        table.add_row(name, str(count))
    console.print(table)


@documents_app.command("list")
def documents_list(
    collection: Annotated[
        str | None, typer.Option("--collection", "-c", callback=_collection, help="Collection.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    tenant: Tenant = CLI_TENANT,
) -> None:
    """List documents, newest first."""
    from ragops.documents import catalog

    async def work(runtime: Runtime) -> str:
        listing = await catalog.list_documents(
            db=runtime.db, tenant_id=tenant, collection=collection, limit=500
        )
        return listing.model_dump_json()

    payload = json.loads(with_runtime(work))
    if as_json:
        print(json.dumps(payload))
        return
    table = Table("id", "collection", "source", "title", "chunks", "version")
    for item in payload["items"]:
        table.add_row(
            item["id"],
            item["collection"],
            item["source"],
            item["title"],
            str(item["chunk_count"]),
            str(item["version"]),
        )
    console.print(table)


@documents_app.command("delete")
def documents_delete(
    document_id: Annotated[str, typer.Argument(help="The document's id.")],
    tenant: Tenant = CLI_TENANT,
) -> None:
    """Delete a document, its chunks and its vectors."""
    from ragops.auth.audit import record_event
    from ragops.documents import service as documents

    async def work(runtime: Runtime) -> None:
        await documents.delete_document(
            db=runtime.db, store=runtime.store, tenant_id=tenant, document_id=document_id
        )
        await record_event(
            db=runtime.db,
            action="documents.delete",
            tenant_id=tenant,
            target=document_id,
            detail={"interface": "cli"},
        )

    with_runtime(work)
    console.print(f"deleted {document_id}")
