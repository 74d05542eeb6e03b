"""`ragops backup`: create, verify and restore backups; print a new encryption key; run the
backup drill.

`create` beside a running `ragops serve` (or with `--url`) asks that server to back itself up
(`POST /v1/ops/backups`: it holds the embedded store) and, for a local server, moves the file
to `--to`; otherwise it works in this process. `verify` and `restore` work in this process on
the file given.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from ragops.backup.cli_drill import check, drill
from ragops.backup.cli_support import progress as _progress
from ragops.backup.cli_support import run_work as _run
from ragops.backup.fs_errors import ensure_backup_dir, os_reason
from ragops.backup.manifest import data_rows
from ragops.cli.remote import KeyOpt, UrlOpt, api_client, find_remote
from ragops.cli.runner import console, fail, load_settings

if TYPE_CHECKING:
    from ragops.backup.restore import RestoreReport
    from ragops.config import Settings

T = TypeVar("T")

backup_app = typer.Typer(help="Backups: create, verify, restore, drill.", no_args_is_help=True)


def _print_created(result: dict[str, Any]) -> None:
    manifest = result["manifest"]
    pgvector = manifest["vectors"]["backend"] == "pgvector"
    rows = data_rows(manifest["database"]["tables"])  # as verify and restore count them
    console.print(
        f"backup written: {result['path']} ({result['bytes'] / 1e6:.1f} MB, "
        f"{result['seconds']:.1f} s{', encrypted' if result['encrypted'] else ''})"
    )
    console.print(
        f"  {rows} rows in {len(manifest['database']['tables'])} tables, "
        f"{manifest['vectors']['points']} vectors"
        f"{' (pgvector, inside the database dump)' if pgvector else ''}, "
        f"schema {manifest['migration_revision']}, "
        f"{result['files']} files checksummed"
    )
    if result["pruned"]:
        console.print(f"  pruned {len(result['pruned'])} older: {', '.join(result['pruned'])}")


async def _create_here(
    settings: Settings, directory: Path | None, keep: int | None, encrypt: bool | None
) -> dict[str, Any]:
    from ragops.backup.router import result_json
    from ragops.backup.service import create_backup
    from ragops.providers.embedder.factory import create_embedder, resolve_dimension
    from ragops.providers.vectorstore.factory import create_vector_store

    embedder = create_embedder(settings)
    store = create_vector_store(settings, embedder)
    try:
        await store.ensure_ready(await resolve_dimension(embedder))
        with _progress() as progress:
            task = progress.add_task("backup", total=5)

            def report(step: str, done: int, total: int) -> None:
                progress.update(task, description=step, completed=done, total=total)

            result = await create_backup(
                settings=settings,
                store=store,
                directory=directory,
                keep=keep,
                encrypt=encrypt,
                progress=report,
            )
        return result_json(result)
    finally:
        await store.aclose()


def _create_through(
    url: str | None, api_key: str | None, keep: int | None, encrypt: bool | None
) -> dict[str, Any] | None:
    remote = find_remote(url, api_key)
    if remote is None:
        return None
    outcome: dict[str, Any] = {}
    with api_client(remote, None, ["admin"]) as api, _progress() as progress:
        task = progress.add_task("backup", total=5)
        body = {"keep": keep, "encrypt": encrypt}
        with api.client.stream("POST", "/v1/ops/backups", json=body, timeout=None) as response:
            if not response.is_success:
                response.read()
                api.call("POST", "/v1/ops/backups", json=body)  # reports the error and exits
            for line in response.iter_lines():
                if not line.strip():
                    continue
                item = json.loads(line)
                if "step" in item:
                    progress.update(
                        task, description=item["step"], completed=item["done"], total=item["total"]
                    )
                else:
                    outcome = item
    if "error" in outcome or "result" not in outcome:
        fail(f"the backup failed on {remote.where}: {outcome.get('error', 'no result')}")
    result: dict[str, Any] = outcome["result"]
    result["local"] = remote.local_pid is not None
    return result


@backup_app.command()
def create(
    to: Annotated[
        Path | None, typer.Option("--to", help="Directory for the backup (RAGOPS_BACKUP_DIR).")
    ] = None,
    keep: Annotated[
        int | None, typer.Option("--keep", min=1, help="Then keep only the N newest backups.")
    ] = None,
    encrypt: Annotated[
        bool | None,
        typer.Option(
            "--encrypt/--no-encrypt", help="Default: encrypt when RAGOPS_BACKUP_KEY is set."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Back up the database and the vectors into one checksummed archive."""
    from ragops.backup.service import prune

    settings = load_settings()
    if to is not None:
        # before the server is asked: a --to that cannot hold the archive must not leave one
        # behind in the server's backup directory
        refused = ensure_backup_dir(to)
        if refused:
            fail(refused)
    result = _create_through(url, api_key, None if to else keep, encrypt)
    if result is not None and to is not None:
        if not result.pop("local"):
            fail(
                "--to applies to a server on this machine; a remote server writes to its own "
                f"backup directory (the backup is at {result['path']} there)"
            )
        result["path"] = str(_move_into(Path(result["path"]), to))
        result["pruned"] = [p.name for p in prune(to, keep)] if keep else []
    if result is None:
        result = _run(_create_here(settings, to, keep, encrypt))
    result.pop("local", None)
    if as_json:
        print(json.dumps(result))
    else:
        _print_created(result)


def _move_into(made: Path, to: Path) -> Path:
    """Move the server's backup `made` into `to` (through a partial file, so a failed copy
    leaves nothing named like a backup there); on failure it stays where the server wrote it."""
    moved = to / made.name
    partial = to / f".{made.name}.partial"
    try:
        shutil.move(made, partial)
        os.replace(partial, moved)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        fail(
            f"cannot write backups to {to}: {os_reason(exc)}; nothing written there (the "
            f"backup is at {made})"
        )
    return moved


def _key(settings: Settings) -> bytes | None:
    from ragops.backup.crypto import BackupCryptoError
    from ragops.backup.service import backup_key

    try:
        return backup_key(settings)
    except BackupCryptoError as exc:
        fail(str(exc))


def _print_report(report: RestoreReport, heading: str) -> None:
    verification = report.verification
    manifest = report.manifest
    console.print(heading)
    console.print(
        f"  backup of {manifest.started_at} by ragops {manifest.ragops_version}, "
        f"schema {manifest.migration_revision}"
    )
    if report.migrated_to:
        console.print(f"  migrated forward {report.migrated_from} -> {report.migrated_to}")
    if report.safety_backup is not None:
        console.print(f"  safety backup of the replaced data: {report.safety_backup.path}")
    if report.raw_safety_copy is not None:
        console.print(
            f"  raw safety copy of the replaced files (unchanged): {report.raw_safety_copy}"
        )
    if report.safety_skipped:
        console.print("  no safety copy of the replaced data was taken (--no-safety-backup)")
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in report.steps.items())
    console.print(f"  recovery time: {report.seconds:.1f} s ({timings})")
    rows = data_rows(manifest.database.tables)
    if verification.ok:
        console.print(
            f"  verification: [green]OK[/] ({rows} rows and "
            f"{verification.points_found} vectors as in the manifest; every chunk has its vector; "
            f"the audit chain of {verification.audit_rows} events intact)"
        )
    else:
        console.print("  verification: [red]FAILED[/]")
    for line in verification.lines():
        console.print(f"    {line}", markup=False)


def _report_json(report: RestoreReport) -> dict[str, Any]:
    stores = report.verification.stores
    return {
        "ok": report.verification.ok,
        "recovery_seconds": round(report.seconds, 3),
        "steps": {k: round(v, 3) for k, v in report.steps.items()},
        "findings": report.verification.lines(),
        "rows": {k: v for k, v in report.manifest.database.tables.items()},
        "vectors": report.verification.points_found,
        "orphan_points": len(stores.orphan_points) if stores else None,
        "missing_points": len(stores.missing_points) if stores else None,
        "audit_chain_intact": not report.verification.audit_problems,
        "migrated_to": report.migrated_to,
        "safety_backup": str(report.safety_backup.path) if report.safety_backup else None,
        "raw_safety_copy": str(report.raw_safety_copy) if report.raw_safety_copy else None,
        "safety_skipped": report.safety_skipped,
        "target_data_dir": str(report.target_data_dir),
        "target_database": report.target_database,
    }


@backup_app.command()
def verify(
    file: Annotated[Path, typer.Argument(help="The backup file.")],
    scratch_url: Annotated[
        str | None,
        typer.Option(
            help="PostgreSQL server for the trial restore of a PostgreSQL backup "
            "(default: RAGOPS_DATABASE_URL's server); a scratch database is made there."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check checksums and manifest, then restore into scratch stores and compare counts."""
    from ragops.backup.restore import verify_backup

    settings = load_settings()
    report = _run(
        verify_backup(file, settings=settings, key=_key(settings), scratch_url=scratch_url)
    )
    if as_json:
        print(json.dumps(_report_json(report)))
    else:
        _print_report(report, f"{file}: checksums and manifest intact; trial restore done")
    if not report.verification.ok:
        raise typer.Exit(1)


@backup_app.command()
def restore(
    file: Annotated[Path, typer.Argument(help="The backup file.")],
    target: Annotated[
        Path | None,
        typer.Option(
            help="Data directory of the restored instance (default: a new directory "
            "beside the backup)."
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            help="Database to restore into (default: SQLite in the target directory); a "
            "pgvector store's vectors come back in it."
        ),
    ] = None,
    live: Annotated[
        bool, typer.Option("--live", help="Restore over the configured instance (needs --force).")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace a target that holds data (after a safety backup)."),
    ] = False,
    raw_safety_copy: Annotated[
        bool,
        typer.Option(
            "--raw-safety-copy",
            help="With --force, for a broken target the safety backup cannot read: keep its "
            "database and vector files aside unchanged (PostgreSQL: a pg_dump without checks) "
            "instead.",
        ),
    ] = False,
    no_safety_backup: Annotated[
        bool,
        typer.Option(
            "--no-safety-backup",
            help="With --force: replace the target keeping no copy of what it holds.",
        ),
    ] = False,
    lock_timeout: Annotated[
        float,
        typer.Option(
            min=0.1,
            help="PostgreSQL: give up after waiting this many seconds for a lock another "
            "session holds (the restore: nothing changed; the migration forward after it: "
            "rolled back, the restored data intact), and name those sessions.",
        ),
    ] = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Restore a backup into a new database and data directory (or, with --live --force,
    over the configured one), migrate it forward, and verify it."""
    from ragops.backup.restore import Safety, restore_backup

    if raw_safety_copy and no_safety_backup:
        fail("--raw-safety-copy and --no-safety-backup exclude each other: choose one")
    if (raw_safety_copy or no_safety_backup) and not force:
        chosen_flag = "--raw-safety-copy" if raw_safety_copy else "--no-safety-backup"
        fail(f"{chosen_flag} applies to a restore over a target that holds data: add --force")
    safety: Safety = "raw" if raw_safety_copy else "none" if no_safety_backup else "backup"
    settings = load_settings()
    if live:
        if target is not None or database_url is not None:
            fail("--live restores over the configured instance: drop --target/--database-url")
        chosen = settings
    else:
        directory = target or file.parent / (file.name.split(".")[0] + "-restored")
        update: dict[str, Any] = {"data_dir": directory, "database_url": database_url}
        if settings.resolved_vector_store == "pgvector":  # its vectors: in the restored database
            update |= {"vector_store": "pgvector", "pgvector_url": None}
        chosen = settings.model_copy(update=update)
    again = "--live" if live else f"--target {shlex.quote(str(chosen.data_dir))}"
    if database_url:
        again += " --database-url <the same URL>"  # never printed: it may hold a password
    report = _run(
        restore_backup(
            file,
            settings=chosen,
            key=_key(settings),
            force=force,
            safety=safety,
            lock_timeout=lock_timeout,
        ),
        restore_options=f"{again} --force",
    )
    if as_json:
        print(json.dumps(_report_json(report)))
    else:
        _print_report(report, f"restored {file} into {chosen.data_dir} ({report.target_database})")
        if not live:
            console.print(
                f"  serve it with RAGOPS_DATA_DIR={chosen.data_dir}"
                + (f" RAGOPS_DATABASE_URL=<{report.target_database}>" if database_url else "")
                + (
                    " RAGOPS_VECTOR_STORE=pgvector, RAGOPS_PGVECTOR_URL unset (the vectors are "
                    "in that database)"
                    if report.manifest.vectors.backend == "pgvector"
                    else ""
                )
            )
    if not report.verification.ok:
        raise typer.Exit(1)


@backup_app.command()
def key() -> None:
    """Print a new random encryption key for RAGOPS_BACKUP_KEY."""
    from ragops.backup.crypto import new_key

    print(new_key())


backup_app.command()(drill)
backup_app.command()(check)
