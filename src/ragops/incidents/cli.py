"""`ragops incident`: list, show, ack, note, severity, mitigate, resolve, reopen, action items
and the postmortem. They need only the database (like `ragops keys`), so they work beside a
running server. `--as` names the responder (default: cli:<login name>).
"""

from __future__ import annotations

import getpass
import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import httpx
import typer
from rich.table import Table
from rich.text import Text

from ragops.cli.keys import with_database
from ragops.cli.runner import console, fail
from ragops.db.base import utcnow
from ragops.errors import RagopsError
from ragops.incidents import actions, service
from ragops.incidents.models import MAX_TEXT, IncidentDetail, IncidentRead, Status
from ragops.oncall.cli import FileOpt, load_config, oncall_app, parse_when
from ragops.oncall.policy import SEVERITIES, Severity
from ragops.os_errors import os_reason
from ragops.schema import MAX_DB_INT

if TYPE_CHECKING:
    from ragops.config import Settings
    from ragops.db import Database

incident_app = typer.Typer(
    help="Incidents: list, show, ack, note, severity, resolve, postmortem.", no_args_is_help=True
)

IdArg = Annotated[int, typer.Argument(help="The incident's number.", min=1, max=MAX_DB_INT)]
MAX_NAME = 128  # the actor, commander and owner columns
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _name(option: str, value: str) -> str:
    if len(value) > MAX_NAME:
        raise typer.BadParameter(f"{option} is at most {MAX_NAME} characters")
    return value


def _actor(value: str) -> str:
    return _name("--as", value)


def _owner(value: str) -> str:
    if not value.strip():
        raise typer.BadParameter("--owner is empty")
    return _name("--owner", value)


def _text(value: str) -> str:
    """A note, a status message or an action item, within the API's bound (checked before
    anything is written)."""
    if len(value) > MAX_TEXT:
        raise typer.BadParameter(f"{len(value)} characters; the limit is {MAX_TEXT}")
    return value


ActorOpt = Annotated[
    str, typer.Option("--as", help="Who acts (default cli:<login>).", callback=_actor)
]


def _when(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if hasattr(value, "strftime") else "-"


def _print(incident: IncidentRead, as_json: bool) -> None:
    if as_json:
        print(incident.model_dump_json())
        return
    console.print(
        f"incident {incident.id} [{incident.severity}] {incident.status}:", Text(incident.title)
    )


@incident_app.command("list")
def list_command(
    status: Annotated[str, typer.Option("--status", help="open, all, or one status.")] = "open",
    as_json: JsonOpt = False,
) -> None:
    """Incidents, newest first (default: the open ones)."""
    allowed = ("open", "all", "triggered", "acknowledged", "mitigated", "resolved")
    if status not in allowed:
        raise typer.BadParameter(f"--status is one of {', '.join(allowed)}")
    incidents = with_database(lambda db, _: service.get_all(db=db, status=status, limit=500))
    if as_json:
        print(json.dumps([json.loads(i.model_dump_json()) for i in incidents]))
        return
    table = Table("id", "sev", "status", "title", "opened", "commander")
    for item in incidents:
        table.add_row(
            str(item.id),
            item.severity,
            item.status,
            Text(item.title),
            _when(item.created_at),
            item.commander or "-",
        )
    console.print(table)


@incident_app.command("show")
def show(incident_id: IdArg, as_json: JsonOpt = False) -> None:
    """One incident with its timeline, alerts and action items."""
    found: IncidentDetail = with_database(
        lambda db, _: service.get_or_raise(db=db, incident_id=incident_id)
    )
    if as_json:
        print(found.model_dump_json())
        return
    console.print(Text(f"incident {found.id} [{found.severity}] {found.status}: {found.title}"))
    console.print(f"commander: {found.commander or '-'} · customer-facing: {found.customer_facing}")
    if found.runbook_url:
        console.print(Text(f"runbook: {found.runbook_url}"))
    table = Table("time", "actor", "event", "message", title="timeline")
    for event in found.timeline:
        table.add_row(_when(event.at), Text(event.actor), event.kind, Text(event.message))
    console.print(table)
    for item in found.action_items:
        due = item.due.isoformat() if item.due else "no due date"
        mark = "x" if item.done else " "
        console.print(Text(f"[{mark}] #{item.id} {item.description} ({item.owner}, {due})"))


@incident_app.command("ack")
def ack(incident_id: IdArg, actor: ActorOpt = "", as_json: JsonOpt = False) -> None:
    """Acknowledge: stops the escalation."""
    who = actor or _default_actor()
    _print(
        with_database(lambda db, _: service.acknowledge(db=db, incident_id=incident_id, actor=who)),
        as_json,
    )


@incident_app.command("note")
def note(
    incident_id: IdArg,
    message: Annotated[str, typer.Argument(help="The note.", callback=_text)],
    status_update: Annotated[
        bool, typer.Option("--status-update", help="Also the latest customer-facing update.")
    ] = False,
    actor: ActorOpt = "",
    as_json: JsonOpt = False,
) -> None:
    """Add a note to the timeline."""
    if not message.strip():
        raise typer.BadParameter("the note is empty")
    who = actor or _default_actor()
    _print(
        with_database(
            lambda db, _: service.add_note(
                db=db,
                incident_id=incident_id,
                message=message,
                actor=who,
                status_update=status_update,
            )
        ),
        as_json,
    )


def _severity(value: str) -> str:
    upper = value.upper()
    if upper not in SEVERITIES:
        raise typer.BadParameter(f"severity is one of {', '.join(SEVERITIES)}")
    return upper


@incident_app.command("severity")
def severity(
    incident_id: IdArg,
    level: Annotated[str, typer.Argument(help="P1, P2, P3 or P4.", callback=_severity)],
    actor: ActorOpt = "",
    as_json: JsonOpt = False,
) -> None:
    """Change the severity."""
    who = actor or _default_actor()
    chosen: Severity = level  # type: ignore[assignment]
    _print(
        with_database(
            lambda db, _: service.change_severity(
                db=db, incident_id=incident_id, severity=chosen, actor=who
            )
        ),
        as_json,
    )


def _move(incident_id: int, status: Status, message: str, actor: str, as_json: bool) -> None:
    who = actor or _default_actor()
    _print(
        with_database(
            lambda db, _: service.set_status(
                db=db,
                incident_id=incident_id,
                status=status,
                message=message,
                actor=who,
            )
        ),
        as_json,
    )


MessageOpt = Annotated[str, typer.Option("--message", "-m", help="Why.", callback=_text)]


@incident_app.command("mitigate")
def mitigate(
    incident_id: IdArg, message: MessageOpt = "", actor: ActorOpt = "", as_json: JsonOpt = False
) -> None:
    """Mark the incident mitigated."""
    _move(incident_id, "mitigated", message, actor, as_json)


@incident_app.command("resolve")
def resolve(
    incident_id: IdArg, message: MessageOpt = "", actor: ActorOpt = "", as_json: JsonOpt = False
) -> None:
    """Resolve the incident."""
    _move(incident_id, "resolved", message, actor, as_json)


@incident_app.command("reopen")
def reopen(
    incident_id: IdArg, message: MessageOpt = "", actor: ActorOpt = "", as_json: JsonOpt = False
) -> None:
    """Reopen a resolved incident (escalation starts over)."""
    _move(incident_id, "triggered", message, actor, as_json)


action_app = typer.Typer(help="Postmortem action items.", no_args_is_help=True)
incident_app.add_typer(action_app, name="action")


@action_app.command("add")
def action_add(
    incident_id: IdArg,
    description: Annotated[str, typer.Argument(help="What is to be done.", callback=_text)],
    owner: Annotated[str, typer.Option("--owner", help="Who does it.", callback=_owner)],
    due: Annotated[str | None, typer.Option("--due", help="Due date (YYYY-MM-DD).")] = None,
    actor: ActorOpt = "",
) -> None:
    """Store an action item with its owner and due date."""
    try:
        due_date = date.fromisoformat(due) if due else None
    except ValueError:
        raise typer.BadParameter(f"--due {due!r} is not a date (YYYY-MM-DD)") from None
    who = actor or _default_actor()
    item = with_database(
        lambda db, _: actions.add_action_item(
            db=db,
            incident_id=incident_id,
            description=description,
            owner=owner,
            due=due_date,
            actor=who,
        )
    )
    console.print(f"action item #{item.id} for {item.owner} stored")


@action_app.command("list")
def action_list(
    include_done: Annotated[bool, typer.Option("--all", help="Include done items.")] = False,
) -> None:
    """Open action items of every incident; overdue ones are marked."""
    today = date.today()
    items = with_database(
        lambda db, _: actions.list_action_items(db=db, open_only=not include_done)
    )
    table = Table("#", "incident", "owner", "due", "done", "action")
    for item in items:
        overdue = item.due is not None and item.due < today and not item.done
        due = (item.due.isoformat() if item.due else "-") + (
            " [red](overdue)[/]" if overdue else ""
        )
        table.add_row(
            str(item.id),
            str(item.incident_id),
            Text(item.owner),
            due,
            "yes" if item.done else "no",
            Text(item.description),
        )
    console.print(table)


@action_app.command("done")
def action_done(
    item_id: Annotated[
        int, typer.Argument(help="The action item's number.", min=1, max=MAX_DB_INT)
    ],
) -> None:
    """Mark an action item done."""
    item = with_database(lambda db, _: actions.complete_action_item(db=db, item_id=item_id))
    console.print(f"action item #{item.id} done")


@incident_app.command("postmortem")
def postmortem(
    incident_id: IdArg,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Markdown file; default stdout.")
    ] = None,
    prometheus: Annotated[
        str | None,
        typer.Option(
            "--prometheus",
            help="Prometheus URL for the window's error rate and p95 (default: the service's"
            " own request log).",
        ),
    ] = None,
) -> None:
    """Write the blameless postmortem of an incident as Markdown, from its timeline."""
    from ragops.incidents import postmortem as document

    async def work(db: Database, _: Settings) -> str:
        found = await service.get_or_raise(db=db, incident_id=incident_id)
        figures = None
        if prometheus:
            end = found.resolved_at or utcnow()
            try:
                figures = await document.prometheus_figures(prometheus, found.created_at, end)
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                raise RagopsError(f"cannot ask Prometheus at {prometheus}: {exc}") from None
        else:
            figures = await document.recorded_figures(
                db, found.created_at, found.resolved_at or utcnow()
            )
        return document.render(found, figures=figures, now=utcnow())

    text = with_database(work)
    if output is None:
        print(text, end="")
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"{output}: cannot write: {os_reason(exc)}")
    console.print(f"wrote {output}")


@oncall_app.command("handoff")
def handoff(
    at: Annotated[str | None, typer.Option("--at", help="Hand off at this time.")] = None,
    file: FileOpt = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Markdown file; default stdout.")
    ] = None,
) -> None:
    """A handoff note for the next primary: open incidents, the shift's alerts, action items."""
    from ragops.incidents import handoff as note

    config = load_config(file)
    when = parse_when(at, config.timezone, "--at")

    async def work(db: Database, _: Settings) -> str:
        built = await note.build(db=db, rotations=config, now=when)
        return note.render(built)

    text = with_database(work)
    if output is None:
        print(text, end="")
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"{output}: cannot write: {os_reason(exc)}")
    console.print(f"wrote {output}")
