"""The `ragops` command: serve, ingest, ask, collections, documents, db, keys, audit-log,
audit and store. Every command acting on data takes `--tenant` (default "default").

`ingest`, `ask`, `collections` and `documents` go through the HTTP API of the server running on
the same data (found through `<data_dir>/server.json`, which `serve` writes) or of `--url`;
otherwise they work in this process (see `cli.remote`)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ragops.audit.cli import audit_app
from ragops.backup.cli import backup_app
from ragops.cli.audit_log import audit_log_app
from ragops.cli.cache import cache_app
from ragops.cli.db import db_app
from ragops.cli.documents import CollectionOpt, Tenant, collections, documents_app
from ragops.cli.keys import keys_app
from ragops.cli.remote import KeyOpt, UrlOpt, api_client, check_tenant, find_remote
from ragops.cli.runner import CLI_TENANT, console, err_console, fail, load_settings, with_runtime
from ragops.cli.usage import UsageLineGroup
from ragops.consistency.cli import store_app
from ragops.documents.files import collect_files, source_name
from ragops.incidents.cli import incident_app
from ragops.oncall.cli import oncall_app
from ragops.os_errors import os_reason
from ragops.release.cli import rollback_app
from ragops.stack.cli import stack_app

if TYPE_CHECKING:
    from ragops.chat.models import ChatResponse
    from ragops.documents.models import IngestOutcome
    from ragops.runtime import Runtime

app = typer.Typer(
    name="ragops",
    help="A RAG chatbot API with its operations built in.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=UsageLineGroup,
)
app.command()(collections)
app.add_typer(documents_app, name="documents")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_log_app, name="audit-log")
app.add_typer(audit_app, name="audit")
app.add_typer(cache_app, name="cache")
app.add_typer(store_app, name="store")
app.add_typer(backup_app, name="backup")
app.add_typer(rollback_app, name="rollback")
app.add_typer(oncall_app, name="oncall")
app.add_typer(incident_app, name="incident")
app.add_typer(stack_app, name="stack")

_READ_SLICE = 512
"""Files read into memory and handed to one `ingest_batch` call by `ragops ingest`."""


@app.command()
def version() -> None:
    """Print the version."""
    from ragops import __version__

    console.print(__version__)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (RAGOPS_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (RAGOPS_PORT).", min=1, max=65535)] = None,
) -> None:
    """Start the HTTP server (migrates; an empty instance ingests the demo corpus meanwhile)."""
    from ragops import __version__
    from ragops.cli.server import wrap_lifespan
    from ragops.config.production import ProductionConfigError, check_production
    from ragops.security.setup import SECURITY_CONFIG_ERRORS, check_security_settings
    from ragops.server_state import local_url, read_state, remove_state, write_state

    settings = load_settings()
    try:  # refuse a production configuration on embedded stores before announcing anything
        check_production(settings)
        check_security_settings(settings)
    except (ProductionConfigError, *SECURITY_CONFIG_ERRORS) as exc:
        fail(str(exc))
    running = read_state(settings.data_dir)
    if running is not None:
        fail(
            f"a ragops server (pid {running.pid}) already serves {settings.data_dir} "
            f"at {running.url}"
        )
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
    if settings.demo_corpus:
        console.print("  demo corpus  ingests in the background on an empty instance:")
        console.print(f'               {base}/readyz says "ingesting" until a line here')
        console.print('               says "answers are ready"; /healthz answers at once')
    # announced before the slow imports, so a command started meanwhile waits for this server
    # instead of opening the embedded store itself
    write_state(settings.data_dir, local_url(bind_host, bind_port))
    try:
        import uvicorn

        from ragops.main import create_app
        from ragops.observability.logging import redact_text
        from ragops.security.slow_clients import uvicorn_options

        application = create_app(settings)
        wrap_lifespan(
            application,
            settings.data_dir,
            lambda line: console.print(line),
            lambda line: err_console.print(
                "[bold red]error:[/] " + redact_text(line), highlight=False, soft_wrap=True
            ),
        )
        uvicorn.run(
            application,
            host=bind_host,
            port=bind_port,
            log_config=None,
            proxy_headers=False,  # client addresses come from RAGOPS_TRUSTED_PROXIES only
            timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
            **uvicorn_options(settings),
        )
    finally:
        remove_state(settings.data_dir)


def _read_files(paths: list[Path]) -> list[tuple[str, Path]]:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        fail(f"no such file or folder: {', '.join(missing)}")
    files = collect_files(paths)
    if not files:
        fail("no ingestible files (txt, md, html, pdf) under the given paths")
    roots = [p for p in paths if p.is_dir()]
    named = []
    for path in files:
        root = next((r for r in roots if path.is_relative_to(r)), None)
        named.append((source_name(path, root), path))
    return named


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        fail(f"{path}: cannot read: {os_reason(exc)}")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _batches(files: list[tuple[str, Path]]) -> list[list[tuple[str, Path]]]:
    """Upload batches: at most UPLOAD_FILES files and about UPLOAD_BYTES bytes each."""
    batches: list[list[tuple[str, Path]]] = [[]]
    size = 0
    for item in files:
        length = item[1].stat().st_size
        if batches[-1] and (len(batches[-1]) >= UPLOAD_FILES or size + length > UPLOAD_BYTES):
            batches.append([])
            size = 0
        batches[-1].append(item)
        size += length
    return batches


UPLOAD_FILES = 16
UPLOAD_BYTES = 8 * 1024 * 1024


def _ingest_through(
    url: str | None,
    api_key: str | None,
    tenant: str | None,
    files: list[tuple[str, Path]],
    collection: str | None,
    background: bool = False,
) -> list[IngestOutcome] | None:
    remote = find_remote(url, api_key)
    if remote is None:
        if background:
            fail("--background needs a running server (start one, or give --url)")
        return None
    check_tenant(remote, tenant)
    outcomes: list[IngestOutcome] = []
    with api_client(remote, tenant, ["chat", "ingest"]) as api, _progress() as progress:
        task = progress.add_task("ingesting", total=len(files))
        if background:
            return _follow_jobs(api, files, collection, progress, task)
        for batch in _batches(files):
            progress.update(task, description=batch[0][0][:40])
            outcomes += api.ingest([(source, _read(path)) for source, path in batch], collection)
            progress.advance(task, len(batch))
    return outcomes


JOB_POLL_SECONDS = 0.5


def _follow_jobs(
    api: Any,
    files: list[tuple[str, Path]],
    collection: str | None,
    progress: Progress,
    task: Any,
) -> list[IngestOutcome]:
    """Upload every batch as a background job, then show their progress until they end.
    Interrupting the command leaves the jobs running on the server."""
    from ragops.documents.models import IngestOutcome

    ids = [
        api.submit_job([(source, _read(path)) for source, path in batch], collection)
        for batch in _batches(files)
    ]
    progress.update(task, description=f"{len(ids)} background job(s)")
    while True:
        jobs = [api.job(job_id) for job_id in ids]
        progress.update(task, completed=sum(j["progress"]["documents_done"] for j in jobs))
        if all(j["state"] in ("succeeded", "failed", "cancelled") for j in jobs):
            break
        time.sleep(JOB_POLL_SECONDS)
    for job in jobs:
        if job["state"] != "succeeded":
            console.print(f"job {job['id']} {job['state']}: {job.get('error') or ''}", markup=False)
    return [IngestOutcome.model_validate(r) for job in jobs for r in job["results"]]


def _ingest_here(
    tenant: str, files: list[tuple[str, Path]], collection: str | None
) -> list[IngestOutcome]:
    from ragops.auth.audit import record_event
    from ragops.documents.batch import ingest_batch

    async def work(runtime: Runtime) -> list[IngestOutcome]:
        name = collection or runtime.settings.default_collection
        outcomes: list[IngestOutcome] = []
        with _progress() as progress:
            task = progress.add_task("ingesting", total=len(files))
            # files are read a slice at a time; each slice is embedded across its documents
            for start in range(0, len(files), _READ_SLICE):

                def advance(done: int, _total: int, start: int = start) -> None:
                    progress.update(task, completed=start + done)

                outcomes += await ingest_batch(
                    runtime.ingest_deps,
                    tenant_id=tenant,
                    collection=name,
                    files=[
                        (source, _read(path), None)
                        for source, path in files[start : start + _READ_SLICE]
                    ],
                    progress=advance,
                )
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

    return with_runtime(work)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.")],
    collection: CollectionOpt = None,
    tenant: Tenant = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    background: Annotated[
        bool,
        typer.Option(
            "--background",
            help="Through the running server's background jobs (the server ingests at its "
            "own pace; leaving the command leaves them running).",
        ),
    ] = False,
) -> None:
    """Ingest files (txt, md, html, pdf); folders are searched recursively."""
    files = _read_files(paths)
    outcomes = _ingest_through(url, api_key, tenant, files, collection, background)
    if outcomes is None:
        outcomes = _ingest_here(tenant or CLI_TENANT, files, collection)
    table = Table("file", "status", "document / reason")
    for outcome in outcomes:
        detail = (
            outcome.document.id
            if outcome.document
            else (outcome.error.message if outcome.error else "")
        )
        style = "red" if outcome.status == "error" else "green"
        table.add_row(Text(outcome.filename), Text(outcome.status, style=style), Text(detail))
    console.print(table)
    failed = sum(1 for o in outcomes if o.status == "error")
    if failed:
        fail(f"{failed} of {len(outcomes)} files were not ingested")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    collection: CollectionOpt = None,
    session: Annotated[str | None, typer.Option(help="Continue this session.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON.")] = False,
    tenant: Tenant = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Ask a question and print the cited answer."""
    from ragops.chat.models import ChatResponse

    remote = find_remote(url, api_key)
    if remote is not None:
        check_tenant(remote, tenant)
        request = {"question": question, "session_id": session, "collection": collection}
        with api_client(remote, tenant, ["chat"]) as api:
            response = api.call("POST", "/v1/chat", json=request)
        result = ChatResponse.model_validate_json(response.content)
    else:
        result = with_runtime(_answer_here(question, collection, session, tenant or CLI_TENANT))
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


def _answer_here(
    question: str, collection: str | None, session: str | None, tenant: str
) -> Callable[[Runtime], Awaitable[ChatResponse]]:
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

    return work
