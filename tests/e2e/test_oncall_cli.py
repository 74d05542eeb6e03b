"""`ragops oncall` as a real process: now, schedule, override add, check and export."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from subprocess import CompletedProcess

from icalendar import Calendar

from tests.conftest import REPO_ROOT, run_cli


def rotation_file(tmp_path: Path) -> Path:
    path = tmp_path / "rotations.yaml"
    shutil.copy(REPO_ROOT / "deploy" / "oncall" / "rotations.yaml", path)
    return path


def override_add(
    tmp_path: Path,
    path: Path,
    start: str,
    end: str,
    *,
    member: str = "engineer-a",
    reason: str | None = None,
    check: bool = False,
) -> CompletedProcess[str]:
    """`ragops oncall override add` on the rotation file `path`."""
    extra = ("--reason", reason) if reason is not None else ()
    return run_cli(
        tmp_path,
        "oncall",
        "override",
        "add",
        "--file",
        str(path),
        "--member",
        member,
        "--start",
        start,
        "--end",
        end,
        *extra,
        check=check,
    )


def test_now_schedule_and_override(tmp_path: Path) -> None:
    path = rotation_file(tmp_path)
    at = "2026-12-24T20:00"
    result = run_cli(tmp_path, "oncall", "now", "--at", at, "--file", str(path), "--json")
    before = {row["layer"]: row for row in json.loads(result.stdout)["on_call"]}
    assert before["primary"]["member"] == "engineer-c"
    assert before["primary"]["until"] == "2026-12-28T08:00:00+00:00"
    assert before["vp"] == {
        "layer": "vp",
        "member": "vp-engineering",
        "source": "rotation",
        "until": None,
    }

    added = override_add(
        tmp_path, path, "2026-12-24T18:00", "2026-12-27T09:00", reason="holiday swap", check=True
    )
    assert "override added: engineer-a covers Primary" in added.stdout
    result = run_cli(tmp_path, "oncall", "now", "--at", at, "--file", str(path), "--json")
    after = {row["layer"]: row for row in json.loads(result.stdout)["on_call"]}
    assert after["primary"]["member"] == "engineer-a" and after["primary"]["source"] == "override"

    table = run_cli(
        tmp_path,
        "oncall",
        "schedule",
        "--weeks",
        "8",
        "--from",
        "2026-12-21T09:00",
        "--file",
        str(path),
    ).stdout
    assert "override: holiday swap" in table
    assert table.count("Primary") >= 10 and "Mon 2027-02-15 09:00 CET" in table


def test_check_fails_on_a_gap_and_export_writes_ics(tmp_path: Path) -> None:
    path = rotation_file(tmp_path)
    ok = run_cli(tmp_path, "oncall", "check", "--weeks", "8", "--file", str(path))
    assert "no coverage gaps" in ok.stdout
    path.write_text(path.read_text().replace("members: [vp-engineering]", "members: []"))
    gap = run_cli(tmp_path, "oncall", "check", "--file", str(path), check=False)
    assert gap.returncode == 1
    assert "gap: nobody on call as VP" in gap.stdout and "coverage gap" in gap.stderr

    out = tmp_path / "oncall.ics"
    run_cli(
        tmp_path,
        "oncall",
        "export",
        "--ics",
        "--weeks",
        "2",
        "--from",
        "2026-12-07T09:00",
        "--file",
        str(path),
        "-o",
        str(out),
    )
    summaries = [str(e["SUMMARY"]) for e in Calendar.from_ical(out.read_bytes()).walk("VEVENT")]
    assert summaries[:2] == ["On call (Primary): engineer-a", "On call (Primary): engineer-b"]
    assert "On call (VP): nobody (gap)" in summaries


def test_bad_input_is_one_line_and_exit_1(tmp_path: Path) -> None:
    missing = run_cli(tmp_path, "oncall", "now", "--file", str(tmp_path / "none.yaml"), check=False)
    assert missing.returncode == 1 and "no such rotation file" in missing.stderr
    path = rotation_file(tmp_path)
    backwards = override_add(tmp_path, path, "2026-12-24T18:00", "2026-12-24T09:00")
    assert backwards.returncode == 1 and "--end must be after --start" in backwards.stderr
    bad_time = run_cli(
        tmp_path, "oncall", "now", "--at", "tomorrow", "--file", str(path), check=False
    )
    assert bad_time.returncode == 2 and "not an ISO 8601 time" in bad_time.stderr
    before = path.read_bytes()
    for member, reason, problem in (
        ("bad name!", "", "member: 'bad name!' is not a member name (letters, digits, . _ @ -)"),
        ("engineer-a", "r" * 501, "reason: String should have at most 500 characters"),
    ):
        refused = override_add(
            tmp_path, path, "2026-12-24T18:00", "2026-12-25T18:00", member=member, reason=reason
        )
        assert refused.returncode == 1, refused.stderr
        assert refused.stderr.strip() == f"error: {problem}", refused.stderr
    assert path.read_bytes() == before


def test_unreadable_files_are_one_line_naming_the_file(tmp_path: Path) -> None:
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"layers:\n  \xff\xfe primary\n")
    refused = run_cli(tmp_path, "oncall", "now", "--file", str(binary), check=False)
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr.strip() == f"error: {binary}: cannot read: not UTF-8 text (byte 10)"
    path = rotation_file(tmp_path)
    into_a_directory = run_cli(
        tmp_path, "oncall", "export", "--file", str(path), "-o", str(tmp_path), check=False
    )
    assert into_a_directory.returncode == 1
    assert into_a_directory.stderr.strip() == f"error: {tmp_path}: cannot write: is a directory"


COMMENTED = """\
# On-call rotations: the header comment stays.
timezone: Europe/Berlin   # wall-clock times below are Berlin's
layers:
  primary:
    # four engineers, weekly
    members: [engineer-a, engineer-b, engineer-c, engineer-d]
    handoff: {day: monday, time: "09:00"}
    shift_weeks: 1
    start: 2026-01-05
  engineering_lead:
    members: [engineering-lead]
  vp:
    members: [vp-engineering]
overrides:
  # holidays first
  - layer: primary   # the new year
    member: engineer-c
    start: 2026-12-31T18:00
    end: 2027-01-02T09:00
    reason: new year  # agreed in the team meeting
contacts:
  engineer-a: {email: engineer-a@example.com}  # on leave in August
"""


def test_override_add_keeps_comments_and_layout(tmp_path: Path) -> None:
    path = tmp_path / "rotations.yaml"
    path.write_text(COMMENTED, encoding="utf-8")
    override_add(
        tmp_path, path, "2026-12-24T18:00", "2026-12-27T09:00", reason="holiday swap", check=True
    )
    text = path.read_text(encoding="utf-8")
    before, after = COMMENTED.splitlines(), text.splitlines()
    # Every line of the file is still there, in order; the new entry is one line after the
    # last override, before `contacts:`.
    assert after[: before.index("contacts:")] == before[: before.index("contacts:")]
    added = after[before.index("contacts:")]
    assert added.startswith("  - {layer: primary, member: engineer-a, start: ")
    assert "reason: holiday swap}" in added
    assert after[before.index("contacts:") + 1 :] == before[before.index("contacts:") :]
    # And the file still reads as a rotation with both overrides.
    christmas = run_cli(
        tmp_path, "oncall", "now", "--at", "2026-12-25T12:00", "--file", str(path), "--json"
    )
    rows = {row["layer"]: row for row in json.loads(christmas.stdout)["on_call"]}
    assert rows["primary"]["member"] == "engineer-a" and rows["primary"]["source"] == "override"
    new_year = run_cli(
        tmp_path, "oncall", "now", "--at", "2027-01-01T12:00", "--file", str(path), "--json"
    )
    rows = {row["layer"]: row for row in json.loads(new_year.stdout)["on_call"]}
    assert rows["primary"]["member"] == "engineer-c" and rows["primary"]["source"] == "override"


def test_daylight_saving_wall_times(tmp_path: Path) -> None:
    """A wall time clocks jump over is refused naming the option and the jump; a time of the
    hour clocks repeat is its first occurrence (summer time), or the one its offset names."""
    path = rotation_file(tmp_path)
    before = path.read_bytes()
    for option, start, end in (
        ("--start", "2027-03-28T02:30", "2027-03-28T06:00"),
        ("--end", "2027-03-28T01:00", "2027-03-28T02:30"),
        ("--start", "2027-03-28T02:45", "2027-03-28T03:15"),  # not "--end must be after"
    ):
        skipped = override_add(tmp_path, path, start, end)
        assert skipped.returncode == 2, skipped.stderr
        message = " ".join(line.strip("│ ") for line in skipped.stderr.splitlines())
        assert f"Invalid value for '{option}'" in message, message
        assert "does not exist in Europe/Berlin" in message, message
        assert "on 2027-03-28 clocks jump from 02:00 to 03:00" in message, message
        assert "must be after" not in message
    assert path.read_bytes() == before
    at = run_cli(
        tmp_path, "oncall", "now", "--at", "2027-03-28T02:30", "--file", str(path), check=False
    )
    assert at.returncode == 2 and "Invalid value for '--at'" in at.stderr

    repeated = override_add(tmp_path, path, "2027-10-31T02:30", "2027-10-31T05:00")
    assert repeated.returncode == 0, repeated.stderr
    assert "from Sun 2027-10-31 02:30 CEST to Sun 2027-10-31 05:00 CET" in repeated.stdout
    second = override_add(tmp_path, path, "2027-10-31T02:30+01:00", "2027-10-31T05:00")
    assert "from Sun 2027-10-31 02:30 CET to" in second.stdout, second.stdout + second.stderr


def test_now_says_it_needs_the_rotation_file(tmp_path: Path) -> None:
    described = run_cli(tmp_path, "oncall", "now", "--help").stdout
    assert "Reads the rotation file: set RAGOPS_ONCALL_ROTATION_FILE or pass --file." in described
    refused = run_cli(tmp_path, "oncall", "now", check=False)
    assert refused.returncode == 1
    assert "no rotation file: pass --file or set RAGOPS_ONCALL_ROTATION_FILE" in refused.stderr
