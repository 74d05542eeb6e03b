"""`ragops audit`: the security lead's one command before GO (spec Task 4.6).

Each subcommand runs one check; `all` (and a bare `ragops audit`) runs code, secrets, config,
owasp and deps, plus tls for each `--tls` target. Every run writes `report.json` and
`report.md` into `--output-dir`, prints a summary table, and exits 1 when a finding is at or
above `--fail-on` (default high). A check that could not look (`not audited`) counts as a
finding of `--not-audited-severity` (default high), never as a pass. Exit 2: the command
could not run as asked (a missing path, a broken setting, a tool that gave no output).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ragops.audit.findings import AuditError, CheckResult, Finding, Severity
from ragops.audit.owasp import DEFAULT_MAP, audit_owasp
from ragops.audit.report import decide, print_summary, write_reports

audit_app = typer.Typer(
    name="audit",
    help="Security audit: code, dependencies, secrets, settings, TLS and the OWASP map.",
    no_args_is_help=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True, soft_wrap=True)


class Service(StrEnum):
    """Vulnerability services pip-audit can ask."""

    pypi = "pypi"
    osv = "osv"


OutputDir = Annotated[
    Path, typer.Option("--output-dir", "-o", help="Folder for report.json, report.md, raw output.")
]
FailOn = Annotated[
    Severity, typer.Option("--fail-on", help="Exit 1 when a finding is at or above this.")
]
NotAudited = Annotated[
    Severity,
    typer.Option("--not-audited-severity", help="Severity given to anything not audited."),
]
SrcOpt = Annotated[Path, typer.Option("--src", help="Source folder bandit scans.")]
LockOpt = Annotated[Path, typer.Option("--lock", help="Locked requirements to audit.")]
ServiceOpt = Annotated[
    Service, typer.Option("--service", help="Vulnerability service pip-audit asks.")
]
OsvUrlOpt = Annotated[
    str | None, typer.Option("--osv-url", help="OSV API URL (with --service osv).")
]
DepsTimeout = Annotated[
    float, typer.Option("--deps-timeout", help="Seconds before pip-audit is stopped.")
]
SocketTimeout = Annotated[
    float, typer.Option("--socket-timeout", help="pip-audit's per-connection timeout (s).")
]
RepoOpt = Annotated[Path, typer.Option("--repo", help="The git checkout to scan.")]
BaselineOpt = Annotated[
    Path | None,
    typer.Option("--baseline", help="Reviewed baseline (default: <repo>/.secrets.baseline)."),
]
RootOpt = Annotated[
    Path, typer.Option("--root", help="Project root the OWASP map's paths start from.")
]
MapOpt = Annotated[Path, typer.Option("--map", help="OWASP map, relative to --root.")]
CaFileOpt = Annotated[
    Path | None,
    typer.Option("--ca-file", help="Trust only this CA bundle (default: system store)."),
]

DEFAULT_OUTPUT = Path("var/audit")
DEFAULT_SRC = Path("src")
DEFAULT_LOCK = Path("requirements.lock")
DEFAULT_ROOT = Path(".")


def _finish(
    results: list[CheckResult], output_dir: Path, fail_on: Severity, not_audited: Severity
) -> None:
    results = [r.with_not_audited_severity(not_audited) for r in results]
    verdict = decide(results, fail_on)
    json_path, md_path = write_reports(results, verdict, not_audited, output_dir)
    print_summary(console, results, verdict)
    console.print(f"Reports: {json_path} and {md_path}", highlight=False, markup=False)
    if not verdict.passed:
        raise typer.Exit(1)


def _run(check: Callable[[], CheckResult]) -> CheckResult:
    try:
        return check()
    except AuditError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from exc


def _config_result() -> CheckResult:
    from pydantic import ValidationError

    from ragops.audit.config_check import audit_config
    from ragops.config import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        raise AuditError(f"the settings do not load: {exc}") from exc
    return audit_config(settings)


@audit_app.callback(invoke_without_command=True)
def main(ctx: typer.Context) -> None:
    """Run every offline check plus deps when no subcommand is given."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(run_all)


@audit_app.command("code")
def code_command(
    src: SrcOpt = DEFAULT_SRC,
    output_dir: OutputDir = DEFAULT_OUTPUT,
    fail_on: FailOn = Severity.HIGH,
    not_audited_severity: NotAudited = Severity.HIGH,
) -> None:
    """bandit over the source tree."""
    from ragops.audit.code import audit_code

    result = _run(lambda: audit_code(src, output_dir))
    _finish([result], output_dir, fail_on, not_audited_severity)


@audit_app.command("deps")
def deps_command(
    lock: LockOpt = DEFAULT_LOCK,
    service: ServiceOpt = Service.pypi,
    osv_url: OsvUrlOpt = None,
    deps_timeout: DepsTimeout = 600.0,
    socket_timeout: SocketTimeout = 15.0,
    sbom: Annotated[bool, typer.Option(help="Write a CycloneDX SBOM of the lock.")] = True,
    output_dir: OutputDir = DEFAULT_OUTPUT,
    fail_on: FailOn = Severity.HIGH,
    not_audited_severity: NotAudited = Severity.HIGH,
) -> None:
    """pip-audit --strict over requirements.lock, and a CycloneDX SBOM."""
    from ragops.audit.deps import audit_deps

    result = _run(
        lambda: audit_deps(
            lock,
            output_dir,
            service=service.value,
            osv_url=osv_url,
            timeout=deps_timeout,
            socket_timeout=socket_timeout,
            sbom=sbom,
        )
    )
    _finish([result], output_dir, fail_on, not_audited_severity)


@audit_app.command("secrets")
def secrets_command(
    repo: RepoOpt = DEFAULT_ROOT,
    baseline: BaselineOpt = None,
    all_files: Annotated[
        bool, typer.Option("--all-files", help="Scan every file, not only what git tracks.")
    ] = False,
    history: Annotated[bool, typer.Option(help="Scan every blob of the git history.")] = True,
    max_blob_bytes: Annotated[
        int, typer.Option(help="History blobs above this size are reported not audited.")
    ] = 20 * 1024 * 1024,
    output_dir: OutputDir = DEFAULT_OUTPUT,
    fail_on: FailOn = Severity.HIGH,
    not_audited_severity: NotAudited = Severity.HIGH,
) -> None:
    """detect-secrets over the checkout (against .secrets.baseline) and its git history."""
    from ragops.audit.secret_scan import audit_secrets

    result = _run(
        lambda: audit_secrets(
            repo,
            baseline_path=baseline,
            all_files=all_files,
            history=history,
            max_blob_bytes=max_blob_bytes,
        )
    )
    _finish([result], output_dir, fail_on, not_audited_severity)


@audit_app.command("config")
def config_command(
    output_dir: OutputDir = DEFAULT_OUTPUT,
    fail_on: FailOn = Severity.HIGH,
    not_audited_severity: NotAudited = Severity.HIGH,
) -> None:
    """The running settings (RAGOPS_* environment, .env) against the security checklist."""
    _finish([_run(_config_result)], output_dir, fail_on, not_audited_severity)


@audit_app.command("tls")
def tls_command(
    target: Annotated[str, typer.Argument(help="HOST:PORT of the TLS endpoint.")],
    ca_file: CaFileOpt = None,
    server_name: Annotated[
        str | None, typer.Option(help="Name the certificate must cover (default: HOST).")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds per connection.")] = 10.0,
    warn_days: Annotated[int, typer.Option(help="Finding when fewer days are left.")] = 30,
    output_dir: OutputDir = DEFAULT_OUTPUT,
    fail_on: FailOn = Severity.HIGH,
    not_audited_severity: NotAudited = Severity.HIGH,
) -> None:
    """Certificate dates, chain, host name and protocol floor of a TLS endpoint."""
    from ragops.audit.tls import audit_tls

    result = _run(
        lambda: audit_tls(
            target, ca_file=ca_file, server_name=server_name, timeout=timeout, warn_days=warn_days
        )
    )
    _finish([result], output_dir, fail_on, not_audited_severity)


@audit_app.command("owasp")
def owasp_command(
    root: RootOpt = DEFAULT_ROOT,
    map_path: MapOpt = DEFAULT_MAP,
    output_dir: OutputDir = DEFAULT_OUTPUT,
    fail_on: FailOn = Severity.HIGH,
    not_audited_severity: NotAudited = Severity.HIGH,
) -> None:
    """Each OWASP item mapped to a control and to tests that exist."""
    _finish([_run(lambda: audit_owasp(root, map_path))], output_dir, fail_on, not_audited_severity)


def _guarded(name: str, check: Callable[[], CheckResult]) -> CheckResult:
    """Run one check of `all`; a check that cannot run becomes a not-audited finding."""
    try:
        return check()
    except AuditError as exc:
        finding = Finding.not_audited(name, f"{name} check did not run", str(exc), name)
        return CheckResult(name, f"{name} NOT audited: {exc}", [finding])


@audit_app.command("all")
def run_all(
    src: SrcOpt = DEFAULT_SRC,
    lock: LockOpt = DEFAULT_LOCK,
    repo: RepoOpt = DEFAULT_ROOT,
    root: RootOpt = DEFAULT_ROOT,
    map_path: MapOpt = DEFAULT_MAP,
    service: ServiceOpt = Service.pypi,
    osv_url: OsvUrlOpt = None,
    deps_timeout: DepsTimeout = 600.0,
    socket_timeout: SocketTimeout = 15.0,
    tls: Annotated[
        list[str] | None, typer.Option("--tls", help="Also check this HOST:PORT (repeatable).")
    ] = None,
    ca_file: CaFileOpt = None,
    output_dir: OutputDir = DEFAULT_OUTPUT,
    fail_on: FailOn = Severity.HIGH,
    not_audited_severity: NotAudited = Severity.HIGH,
) -> None:
    """Every offline check (code, secrets, config, owasp) plus deps, and tls for --tls."""
    from ragops.audit.code import audit_code
    from ragops.audit.deps import audit_deps
    from ragops.audit.secret_scan import audit_secrets
    from ragops.audit.tls import audit_tls

    results = [
        _guarded("code", lambda: audit_code(src, output_dir)),
        _guarded("secrets", lambda: audit_secrets(repo)),
        _guarded("config", _config_result),
        _guarded("owasp", lambda: audit_owasp(root, map_path)),
        _guarded(
            "deps",
            lambda: audit_deps(
                lock,
                output_dir,
                service=service.value,
                osv_url=osv_url,
                timeout=deps_timeout,
                socket_timeout=socket_timeout,
            ),
        ),
    ]
    for target in tls or []:
        results.append(_guarded("tls", partial(audit_tls, target, ca_file=ca_file)))
    _finish(results, output_dir, fail_on, not_audited_severity)
