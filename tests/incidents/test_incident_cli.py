"""`ragops incident` as a real process on the embedded database: an incident opened through
the service is listed, shown, acknowledged, noted, re-rated and resolved from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from ragops.db import Database, migrate
from ragops.incidents import service
from tests.conftest import make_settings, run_cli, run_sync


def declare_incident(data_dir: Path) -> str:
    """A P2 incident declared on a migrated database under `data_dir`; its id."""
    settings = make_settings(data_dir)

    async def declare() -> int:
        await migrate.upgrade(settings)
        db = Database(settings)
        try:
            made = await service.create(db=db, title="Search down", severity="P2", actor="test")
            return made.id
        finally:
            await db.dispose()

    return str(run_sync(declare()))


def test_incident_commands(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    incident_id = declare_incident(data_dir)
    listed = json.loads(run_cli(data_dir, "incident", "list", "--json").stdout)
    assert [i["id"] for i in listed] == [int(incident_id)]
    acked = json.loads(
        run_cli(data_dir, "incident", "ack", incident_id, "--as", "responder-a", "--json").stdout
    )
    assert acked["status"] == "acknowledged" and acked["commander"] == "responder-a"
    run_cli(
        data_dir,
        "incident",
        "note",
        incident_id,
        "Restarted the vector store",
        "--as",
        "responder-a",
    )
    rated = run_cli(data_dir, "incident", "severity", incident_id, "p1").stdout
    assert rated.strip() == f"incident {incident_id} [P1] acknowledged: Search down", rated
    run_cli(data_dir, "incident", "resolve", incident_id, "-m", "store back")
    run_cli(
        data_dir,
        "incident",
        "action",
        "add",
        incident_id,
        "Alert on store latency",
        "--owner",
        "responder-b",
        "--due",
        "2020-01-01",
    )
    assert "(overdue)" in run_cli(data_dir, "incident", "action", "list").stdout
    shown = run_cli(data_dir, "incident", "show", incident_id).stdout
    for words in (
        "acknowledged by responder-a",
        "Restarted the vector store",
        "P2 -> P1",
        "acknowledged -> resolved: store back",
        "Alert on store latency",
    ):
        assert words in shown
    assert json.loads(run_cli(data_dir, "incident", "list", "--json").stdout) == []

    missing = run_cli(data_dir, "incident", "ack", "999", check=False)
    assert missing.returncode == 1 and "no incident 999" in missing.stderr
    bad = run_cli(data_dir, "incident", "severity", incident_id, "P7", check=False)
    assert bad.returncode == 2 and "severity is one of P1, P2, P3, P4" in bad.stderr
    backwards = run_cli(data_dir, "incident", "mitigate", incident_id, check=False)
    assert backwards.returncode == 1 and "can only move forward" in backwards.stderr


def test_incident_commands_refuse_what_the_database_cannot_hold(tmp_path: Path) -> None:
    """Numbers beyond the INTEGER columns and names longer than their 128-character columns
    are usage errors naming the argument (PostgreSQL answered them with an SQL dump), and a
    refused command changes nothing."""
    data_dir = tmp_path / "var"
    incident_id = declare_incident(data_dir)
    for args in (("ack", "2147483648"), ("show", "2147483648"), ("action", "done", "2147483648")):
        refused = run_cli(data_dir, "incident", *args, check=False)
        assert refused.returncode == 2 and "2147483647" in refused.stderr, refused.stderr
    too_long = run_cli(data_dir, "incident", "ack", incident_id, "--as", "a" * 129, check=False)
    assert too_long.returncode == 2 and "--as" in too_long.stderr, too_long.stderr
    for owner in ("", "o" * 129):
        refused = run_cli(
            data_dir, "incident", "action", "add", incident_id, "x", "--owner", owner, check=False
        )
        assert refused.returncode == 2 and "--owner" in refused.stderr, refused.stderr
    shown = json.loads(run_cli(data_dir, "incident", "show", incident_id, "--json").stdout)
    assert shown["status"] == "triggered" and shown["action_items"] == []


def test_texts_over_the_api_bound_are_refused_before_any_write(tmp_path: Path) -> None:
    """A note, a status message and an action item are at most 10,000 characters, as in the
    API: one more is a usage error naming the argument, and nothing is written."""
    data_dir = tmp_path / "var"
    incident_id = declare_incident(data_dir)
    long = "n" * 10_001
    for args in (
        ("note", incident_id, long),
        ("note", incident_id, long, "--status-update"),
        ("resolve", incident_id, "-m", long),
        ("action", "add", incident_id, long, "--owner", "responder-b"),
    ):
        refused = run_cli(data_dir, "incident", *args, check=False)
        assert refused.returncode == 2, refused.stderr
        message = " ".join(line.strip("│ ") for line in refused.stderr.splitlines())
        assert "10001 characters; the limit is 10000" in message, message
        assert "'message'" in message or "'--message'" in message or "'description'" in message
    shown = json.loads(run_cli(data_dir, "incident", "show", incident_id, "--json").stdout)
    assert shown["status"] == "triggered" and shown["action_items"] == []
    assert [event["kind"] for event in shown["timeline"]] == ["opened"]
    run_cli(data_dir, "incident", "note", incident_id, "n" * 10_000)
