"""`ragops stack`: run N instances under supervisord behind nginx on this machine.

    ragops stack up --instances 3 --run-dir var/stack [--set RAGOPS_X=value ...]
    ragops stack status --run-dir var/stack
    ragops stack restart --run-dir var/stack [--instance 1]   (rolling, one at a time)
    ragops stack down --run-dir var/stack

Instances take the `RAGOPS_*` settings of this shell (a PostgreSQL `RAGOPS_DATABASE_URL` and
a `RAGOPS_REDIS_URL` are required: they are what the instances share) plus `--set`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ragops.cli.runner import console, fail

stack_app = typer.Typer(
    help="Several instances under supervisord behind nginx (deploy/local/).",
    no_args_is_help=True,
)

RunDir = Annotated[
    Path, typer.Option("--run-dir", help="Folder of the stack's configs, logs and state.")
]


def _overrides(values: list[str]) -> dict[str, str]:
    pairs = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.startswith("RAGOPS_"):
            fail(f"--set {item!r}: write RAGOPS_NAME=value")
        pairs[key] = value
    return pairs


@stack_app.command()
def up(
    run_dir: RunDir = Path("var/stack"),
    instances: Annotated[int, typer.Option(min=1, max=32, help="How many instances.")] = 2,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="nginx port; default: a free one.")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="RAGOPS_NAME=value for every instance.")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for readiness.")] = 180,
) -> None:
    """Write the configs, migrate once, start supervisord, nginx and the instances."""
    from ragops.stack.config import StackConfigError, make_plan, write_files
    from ragops.stack.service import Stack, StackError

    try:
        plan = make_plan(run_dir, instances, overrides=_overrides(set_ or []), port=port)
        stack = Stack(plan)
        if stack.supervisord_pid() is not None:
            fail(f"a stack already runs in {run_dir}: `ragops stack down --run-dir {run_dir}`")
        write_files(plan)
        stack.up(timeout, say=lambda line: console.print(line))
    except (StackConfigError, StackError) as exc:
        fail(str(exc))
    console.print(f"[bold]ragops stack[/] of {instances} at {plan.url}")
    for index, name in enumerate(plan.names):
        console.print(f"  {name}  {plan.instance_url(index)}")


@stack_app.command()
def status(run_dir: RunDir = Path("var/stack")) -> None:
    """Each instance's state, pid and readiness."""
    from ragops.stack.config import StackConfigError
    from ragops.stack.service import Stack

    try:
        stack = Stack.open(run_dir)
    except StackConfigError as exc:
        fail(str(exc))
    table = Table("instance", "url", "state", "pid", "ready")
    for row in stack.status():
        table.add_row(
            row.name, row.url, row.state, str(row.pid or "-"), "yes" if row.ready else "no"
        )
    console.print(f"load balancer {stack.url}")
    console.print(table)


@stack_app.command()
def restart(
    run_dir: RunDir = Path("var/stack"),
    instance: Annotated[
        list[int] | None, typer.Option(help="Instance number(s); default: all, in turn.")
    ] = None,
) -> None:
    """Rolling restart: one instance at a time, each ready again before the next stops."""
    from ragops.stack.config import StackConfigError
    from ragops.stack.service import Stack, StackError

    try:
        stack = Stack.open(run_dir)
        count = len(stack.plan.names)
        for index in instance or []:
            if not 0 <= index < count:
                fail(f"--instance {index}: the stack has instances 0 to {count - 1}")
        stack.restart(instance, say=lambda line: console.print(line))
    except (StackConfigError, StackError) as exc:
        fail(str(exc))
    console.print("restarted")


@stack_app.command()
def down(run_dir: RunDir = Path("var/stack")) -> None:
    """Stop the instances (they drain), nginx and supervisord."""
    from ragops.stack.config import StackConfigError
    from ragops.stack.service import Stack

    try:
        stack = Stack.open(run_dir)
    except StackConfigError as exc:
        fail(str(exc))
    stack.down()
    console.print("stopped")
