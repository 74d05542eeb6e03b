"""`ragops store check|reconcile`: orphan vector points and chunk rows without points.

Beside a running server (or with `--url`) the commands go through its admin API and cover the
key's tenant; without one they open the runtime here and cover every tenant (or `--tenant`).
`check` exits 1 when it finds anything (or `--tenant` names a tenant with no collection and no
API key); `reconcile` exits 0 once it repaired what it found.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from ragops.cli.keys import tenant_option, with_database
from ragops.cli.remote import KeyOpt, UrlOpt, api_client, check_tenant, find_remote
from ragops.cli.runner import console, with_runtime

if TYPE_CHECKING:
    from ragops.consistency.models import StoreReport
    from ragops.runtime import Runtime

store_app = typer.Typer(
    help="Consistency of the database and the vector store.", no_args_is_help=True
)

TenantOpt = Annotated[
    str | None,
    typer.Option(
        "--tenant",
        "-t",
        callback=tenant_option,
        help="Only this tenant [default: every tenant; through a server: the key's].",
        show_default=False,
    ),
]
GraceOpt = Annotated[
    float | None,
    typer.Option(
        "--grace",
        min=0.0,
        help="Leave points younger than this many seconds alone "
        "[default: RAGOPS_STORE_RECONCILE_GRACE_SECONDS].",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]


def _run(
    action: str, tenant: str | None, grace: float | None, url: str | None, api_key: str | None
) -> StoreReport:
    from ragops.consistency import service
    from ragops.consistency.models import StoreReport

    remote = find_remote(url, api_key)
    if remote is not None:
        check_tenant(remote, tenant)
        if tenant is not None and remote.local_pid is not None:
            with_database(lambda db, _: service.require_tenant(db, tenant))
        if grace is not None:
            console.print("--grace does not apply through a server: its setting does")
        method, path = ("GET", "check") if action == "check" else ("POST", "reconcile")
        with api_client(remote, tenant, ["admin"]) as api:
            response = api.call(method, f"/v1/admin/store/{path}")
        return StoreReport.model_validate(response.json())

    async def work(runtime: Runtime) -> StoreReport:
        wait = runtime.settings.store_reconcile_grace_seconds if grace is None else grace
        if tenant is not None:
            await service.require_tenant(runtime.db, tenant)
        if action == "check":
            return await service.check(
                runtime.db, runtime.store, tenant_id=tenant, grace_seconds=wait
            )
        report = await service.reconcile(
            runtime.db, runtime.store, runtime.retriever, tenant_id=tenant, grace_seconds=wait
        )
        from ragops.auth.audit import record_event

        await record_event(
            db=runtime.db,
            action="admin.store.reconcile",
            tenant_id=tenant,
            detail={"removed": report.removed, "recreated": report.recreated, "interface": "cli"},
        )
        return report

    return with_runtime(work)


def _print(report: StoreReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.model_dump(mode="json")))
        return
    who = f"tenant {report.tenant_id}" if report.tenant_id else "every tenant"
    console.print(
        f"{who}: {report.chunk_rows} chunk rows, {report.points} points "
        f"({report.recent_points} younger than the grace period, not judged)",
        markup=False,
    )
    if report.scopes:
        table = Table("tenant", "collection", "orphan points", "missing points", box=box.SIMPLE)
        for scope in report.scopes:
            table.add_row(
                scope.tenant_id,
                scope.collection,
                str(scope.orphan_points),
                str(scope.missing_points),
            )
        console.print(table)
    console.print(
        f"orphan points (no chunk row names them): {report.orphan_points}; "
        f"chunk rows without points: {report.missing_points}",
        markup=False,
    )
    if report.documents_without_chunks:
        console.print(
            f"documents whose current version has no chunk rows: "
            f"{report.documents_without_chunks} (they answer nothing; their text is stored "
            "nowhere else: ingest each file again, e.g. `ragops ingest PATH`, which rebuilds "
            "it, then run `ragops store reconcile` for the points the rows left behind)",
            markup=False,
        )
        for label in report.documents_without_chunks_sample:
            console.print(f"  {label}", markup=False)


@store_app.command()
def check(
    tenant: TenantOpt = None,
    grace: GraceOpt = None,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """List points no chunk row names and chunk rows without points; exit 1 if any."""
    report = _run("check", tenant, grace, url, api_key)
    _print(report, as_json)
    if not report.consistent:
        if not as_json and (report.orphan_points or report.missing_points):
            console.print("inconsistent: run `ragops store reconcile` to repair", markup=False)
        raise typer.Exit(1)


@store_app.command()
def reconcile(
    tenant: TenantOpt = None,
    grace: GraceOpt = None,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Remove orphan points and re-create missing ones from their chunk rows."""
    report = _run("reconcile", tenant, grace, url, api_key)
    _print(report, as_json)
    if not as_json:
        console.print(
            f"removed {report.removed} orphan points, re-created {report.recreated} points",
            markup=False,
        )
