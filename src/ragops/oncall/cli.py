"""`ragops oncall`: who is on call now, the schedule, overrides, coverage checks and the
iCalendar export. They read the rotation file (`--file` or `RAGOPS_ONCALL_ROTATION_FILE`)
and need no database; `ragops oncall handoff` (in `incidents.cli`) also reads incidents.

Times given without an offset are wall-clock times of the rotation's time zone.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from rich.table import Table

from ragops.cli.runner import console, fail, load_settings
from ragops.oncall.calendar import LAYER_TITLES, to_ics
from ragops.oncall.policy import LAYERS, Layer, PolicyError, wall_time, zone
from ragops.oncall.rotations import Override, RotationConfig, add_override, load_rotations
from ragops.oncall.schedule import check, on_call, schedule, shifts
from ragops.os_errors import os_reason

oncall_app = typer.Typer(
    help="On-call: who is on call, schedule, overrides, checks, calendar export, handoff.",
    no_args_is_help=True,
)

FileOpt = Annotated[
    Path | None,
    typer.Option("--file", "-f", help="Rotation file (default RAGOPS_ONCALL_ROTATION_FILE)."),
]
WeeksOpt = Annotated[int, typer.Option("--weeks", min=1, max=104, help="Weeks to cover.")]
FromOpt = Annotated[str | None, typer.Option("--from", help="Start of the window (default: now).")]


def rotation_path(path: Path | None) -> Path:
    """The rotation file named by `--file` or the settings; exits when there is none."""
    chosen = path or load_settings().oncall_rotation_file
    if chosen is None:
        fail("no rotation file: pass --file or set RAGOPS_ONCALL_ROTATION_FILE")
    if not chosen.is_file():
        fail(f"no such rotation file: {chosen}")
    return chosen


def load_config(path: Path | None) -> RotationConfig:
    """The validated rotation file; exits with the problems when it is invalid."""
    try:
        return load_rotations(rotation_path(path))
    except PolicyError as exc:
        fail(str(exc))


def parse_when(value: str | None, tz_name: str, option: str) -> datetime:
    """An ISO 8601 time (default now); without an offset, a wall-clock time of the rotation's
    time zone (`wall_time`: the first of a repeated hour, a skipped one refused)."""
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 time (2026-12-24T18:00)", param_hint=f"'{option}'"
        ) from None
    if parsed.tzinfo is None:
        try:
            parsed = wall_time(parsed, tz_name)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint=f"'{option}'") from None
    return parsed.astimezone(UTC)


def _problem(error: ErrorDetails) -> str:
    """One problem of a refused value: `field: message`, without pydantic's prefix."""
    message = error["msg"].removeprefix("Value error, ")
    return f"{'.'.join(str(part) for part in error['loc'])}: {message}"


def local(value: datetime, tz_name: str) -> str:
    """`value` as wall-clock text of the rotation's time zone."""
    return value.astimezone(zone(tz_name)).strftime("%a %Y-%m-%d %H:%M %Z")


@oncall_app.command("now")
def now(
    at: Annotated[str | None, typer.Option("--at", help="Ask for this time instead.")] = None,
    file: FileOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Who is on call in each layer (now, or --at TIME).

    Reads the rotation file: set RAGOPS_ONCALL_ROTATION_FILE or pass --file.
    """
    config = load_config(file)
    when = parse_when(at, config.timezone, "--at")
    rows = []
    for layer in LAYERS:
        horizon = when + timedelta(days=400)
        current = shifts(config, layer, when, horizon)
        member, source = on_call(config, layer, when)
        until = current[0].end if current and current[0].end < horizon else None
        rows.append((layer, member, source, until))
    if as_json:
        payload = [
            {"layer": lay, "member": m, "source": s, "until": u.isoformat() if u else None}
            for lay, m, s, u in rows
        ]
        print(json.dumps({"at": when.isoformat(), "on_call": payload}))
        return
    table = Table(
        "layer", "on call", "source", "until", title=f"on call at {local(when, config.timezone)}"
    )
    for layer, member, source, until in rows:
        who = member or "[red]nobody[/]"
        table.add_row(
            LAYER_TITLES[layer], who, source, local(until, config.timezone) if until else "-"
        )
    console.print(table)


@oncall_app.command("schedule")
def schedule_command(weeks: WeeksOpt = 8, start: FromOpt = None, file: FileOpt = None) -> None:
    """The schedule of every layer over the next weeks, as a table."""
    config = load_config(file)
    begin = parse_when(start, config.timezone, "--from")
    table = Table(
        "layer", "from", "to", "on call", "source", title=f"{weeks} weeks, {config.timezone}"
    )
    for layer, layer_shifts in schedule(config, begin, begin + timedelta(weeks=weeks)).items():
        for shift in layer_shifts:
            who = shift.member or "[red]nobody (gap)[/]"
            source = shift.source + (f": {shift.reason}" if shift.reason else "")
            table.add_row(
                LAYER_TITLES[layer],
                local(shift.start, config.timezone),
                local(shift.end, config.timezone),
                who,
                source,
            )
    console.print(table)


override_app = typer.Typer(help="Overrides that win over the rotation.", no_args_is_help=True)
oncall_app.add_typer(override_app, name="override")


@override_app.command("add")
def override_add(
    member: Annotated[str, typer.Option("--member", "-m", help="Who covers.")],
    start: Annotated[
        str, typer.Option("--start", help="From (ISO 8601; no offset: the rotation's zone).")
    ],
    end: Annotated[
        str, typer.Option("--end", help="Until (ISO 8601; no offset: the rotation's zone).")
    ],
    layer: Annotated[
        str, typer.Option("--layer", help="primary, engineering_lead or vp.")
    ] = "primary",
    reason: Annotated[str, typer.Option("--reason", help="Why (swap, holiday).")] = "",
    file: FileOpt = None,
) -> None:
    """Add an override to the rotation file (later overrides win over earlier ones)."""
    path = rotation_path(file)
    config = load_config(path)
    if layer not in LAYERS:
        fail(f"unknown layer {layer!r}; layers are {', '.join(LAYERS)}")
    layer_name: Layer = layer
    begin = parse_when(start, config.timezone, "--start")
    finish = parse_when(end, config.timezone, "--end")
    if finish <= begin:
        fail("--end must be after --start")
    try:
        override = Override(layer=layer_name, member=member, start=begin, end=finish, reason=reason)
    except ValidationError as exc:
        fail("; ".join(_problem(error) for error in exc.errors()))
    try:
        updated = add_override(path, override)
    except (PolicyError, ValueError) as exc:
        fail(str(exc))
    report = check(updated, begin, finish)
    console.print(
        f"override added: {member} covers {LAYER_TITLES[layer_name]} from "
        f"{local(begin, config.timezone)} to {local(finish, config.timezone)}"
    )
    for first, second in report.overlaps:
        if override in (first, second):
            other = second if first == override else first
            console.print(
                f"[yellow]note:[/] overlaps the override of {other.member}; this one wins"
            )


@oncall_app.command("check")
def check_command(weeks: WeeksOpt = 8, start: FromOpt = None, file: FileOpt = None) -> None:
    """Coverage gaps (exit 1), overlapping overrides and unbalanced load over the next weeks."""
    config = load_config(file)
    begin = parse_when(start, config.timezone, "--from")
    report = check(config, begin, begin + timedelta(weeks=weeks))
    for gap in report.gaps:
        console.print(
            f"[red]gap:[/] nobody on call as {LAYER_TITLES[gap.layer]} from "
            f"{local(gap.start, config.timezone)} to {local(gap.end, config.timezone)}"
        )
    for first, second in report.overlaps:
        console.print(
            f"[yellow]overlap:[/] overrides of {first.member} and {second.member} "
            f"({first.layer}) overlap; the later one ({second.member}) wins"
        )
    table = Table("member", "primary hours", title=f"load over {weeks} weeks")
    for name, hours in report.load.items():
        mark = " [yellow](unbalanced)[/]" if name in report.unbalanced else ""
        table.add_row(name, f"{hours:.0f}{mark}")
    console.print(table)
    if not report.ok:
        fail(f"{len(report.gaps)} coverage gap(s) in the next {weeks} weeks")
    console.print("[green]no coverage gaps[/]")


@oncall_app.command("export")
def export(
    ics: Annotated[bool, typer.Option("--ics", help="iCalendar (the only format).")] = True,
    weeks: WeeksOpt = 8,
    start: FromOpt = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File; default stdout.")
    ] = None,
    file: FileOpt = None,
) -> None:
    """Export the schedule as iCalendar (.ics)."""
    if not ics:
        fail("the only export format is iCalendar (--ics)")
    config = load_config(file)
    begin = parse_when(start, config.timezone, "--from")
    data = to_ics(config, begin, begin + timedelta(weeks=weeks))
    if output is None:
        sys.stdout.buffer.write(data)
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        fail(f"{output}: cannot write: {os_reason(exc)}")
    console.print(f"wrote {output}")
