"""The rotation arithmetic: handoffs across daylight-saving changes, overrides winning (the
later of overlapping ones), empty layers as gaps, load balance and the iCalendar export."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from icalendar import Calendar

from ragops.oncall.calendar import to_ics
from ragops.oncall.policy import PolicyError, SeverityPolicy, load_policy
from ragops.oncall.rotations import RotationConfig, load_rotations
from ragops.oncall.schedule import check, on_call, shifts

REPO = Path(__file__).resolve().parents[3]


def config(**extra: object) -> RotationConfig:
    document: dict[str, object] = {
        "timezone": "Europe/Berlin",
        "layers": {
            "primary": {
                "members": ["a", "b", "c", "d"],
                "handoff": {"day": "monday", "time": "09:00"},
                "start": "2026-03-02",
            },
            "engineering_lead": {"members": ["lead"]},
            "vp": {"members": ["vp"]},
        },
    }
    document.update(extra)
    return RotationConfig.model_validate(document)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_weekly_rotation_starts_with_the_first_member_at_the_anchor() -> None:
    rotation = config()
    assert on_call(rotation, "primary", utc(2026, 3, 2, 8, 0)) == ("a", "rotation")  # 09:00 CET
    assert on_call(rotation, "primary", utc(2026, 3, 2, 7, 59))[0] == "d"
    assert on_call(rotation, "primary", utc(2026, 3, 9, 8, 0))[0] == "b"
    assert on_call(rotation, "primary", utc(2026, 3, 30, 7, 0))[0] == "a"  # wraps after 4


def test_handoff_keeps_wall_clock_time_across_daylight_saving_changes() -> None:
    rotation = config()
    # Berlin moves to summer time on 2026-03-29: Monday 09:00 is 08:00 UTC before, 07:00 after
    found = shifts(rotation, "primary", utc(2026, 3, 20), utc(2026, 4, 7))
    starts = [s.start for s in found]
    assert utc(2026, 3, 23, 8) in starts and utc(2026, 3, 30, 7) in starts
    week = next(s for s in found if s.start == utc(2026, 3, 23, 8))
    assert week.member == "d" and week.hours == 167  # one hour shorter
    # and back in October: 169 hours
    autumn = shifts(rotation, "primary", utc(2026, 10, 19), utc(2026, 11, 3))
    long_week = next(s for s in autumn if s.start == utc(2026, 10, 19, 7))
    assert long_week.end == utc(2026, 10, 26, 8) and long_week.hours == 169


def test_override_wins_and_the_later_of_overlapping_overrides_wins() -> None:
    rotation = config(
        overrides=[
            {
                "layer": "primary",
                "member": "c",
                "start": "2026-03-04T18:00",
                "end": "2026-03-06T09:00",
            },
            {
                "layer": "primary",
                "member": "b",
                "start": "2026-03-05T12:00",
                "end": "2026-03-05T20:00",
                "reason": "swap",
            },
        ]
    )
    assert on_call(rotation, "primary", utc(2026, 3, 4, 16, 59)) == ("a", "rotation")
    assert on_call(rotation, "primary", utc(2026, 3, 4, 17, 0)) == ("c", "override")
    assert on_call(rotation, "primary", utc(2026, 3, 5, 11, 0)) == ("b", "override")
    assert on_call(rotation, "primary", utc(2026, 3, 5, 19, 0)) == ("c", "override")
    assert on_call(rotation, "primary", utc(2026, 3, 6, 8, 0)) == ("a", "rotation")
    members = [
        (s.member, s.source) for s in shifts(rotation, "primary", utc(2026, 3, 4), utc(2026, 3, 7))
    ]
    assert members == [
        ("a", "rotation"),
        ("c", "override"),
        ("b", "override"),
        ("c", "override"),
        ("a", "rotation"),
    ]
    report = check(rotation, utc(2026, 3, 2, 8), utc(2026, 3, 30, 7))
    assert len(report.overlaps) == 1 and report.ok


def test_an_empty_layer_is_a_gap_unless_an_override_covers_it() -> None:
    rotation = config(
        layers={
            "primary": {"members": ["a"]},
            "engineering_lead": {"members": ["lead"]},
            "vp": {"members": []},
        },
        overrides=[
            {
                "layer": "vp",
                "member": "lead",
                "start": "2026-03-10T00:00",
                "end": "2026-03-11T00:00",
            }
        ],
    )
    assert on_call(rotation, "vp", utc(2026, 3, 9)) == (None, "gap")
    assert on_call(rotation, "vp", utc(2026, 3, 10, 12)) == ("lead", "override")
    report = check(rotation, utc(2026, 3, 9), utc(2026, 3, 16))
    assert not report.ok
    assert [(g.layer, g.start, g.end) for g in report.gaps] == [
        ("vp", utc(2026, 3, 9), utc(2026, 3, 9, 23)),
        ("vp", utc(2026, 3, 10, 23), utc(2026, 3, 16)),
    ]


def test_unbalanced_load_is_reported() -> None:
    rotation = config(
        overrides=[
            {
                "layer": "primary",
                "member": "a",
                "start": "2026-03-09T09:00",
                "end": "2026-03-30T09:00",
            }
        ]
    )
    report = check(rotation, utc(2026, 3, 2, 8), utc(2026, 3, 30, 7))
    assert report.ok
    assert report.load["a"] == pytest.approx(28 * 24 - 1)
    assert set(report.unbalanced) == {"a", "b", "c", "d"}
    assert check(config(), utc(2026, 3, 2, 8), utc(2026, 3, 30, 7)).unbalanced == []


def test_ics_export_has_one_event_per_shift_in_utc() -> None:
    data = to_ics(config(), utc(2026, 3, 2, 8), utc(2026, 3, 16, 8), now=utc(2026, 3, 1))
    events = Calendar.from_ical(data).walk("VEVENT")
    primary = [e for e in events if "Primary" in str(e["SUMMARY"])]
    assert [str(e["SUMMARY"]) for e in primary] == ["On call (Primary): a", "On call (Primary): b"]
    assert primary[0].decoded("DTSTART") == utc(2026, 3, 2, 8)
    assert primary[0].decoded("DTEND") == utc(2026, 3, 9, 8)
    assert len({str(e["UID"]) for e in events}) == len(events) == 4


def test_invalid_files_are_refused_with_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "rotations.yaml"
    bad.write_text("timezone: Mars/Olympus\nlayers: {primary: {members: [a]}}\n")
    with pytest.raises(PolicyError, match="unknown time zone 'Mars/Olympus'"):
        load_rotations(bad)
    bad.write_text(
        "layers: {primary: {members: [a]}}\noverrides:\n"
        "  - {layer: primary, member: a, start: 2026-03-02T10:00, end: 2026-03-02T09:00}\n"
    )
    with pytest.raises(PolicyError, match="must end after it starts"):
        load_rotations(bad)
    bad.write_text(
        "severities: {P1: {description: x, response: {work_minutes: -1, off_minutes: 1},"
        " escalation_minutes: 5, communication_minutes: 5}}\n"
    )
    with pytest.raises(PolicyError, match="work_minutes"):
        load_policy(bad)
    bad.write_bytes(b"severities: \xe9t\xe9\n")  # Latin-1, not UTF-8
    with pytest.raises(PolicyError, match=r"cannot read: not UTF-8 text \(byte 12\)"):
        load_policy(bad)


def test_shipped_files_match_the_spec_defaults() -> None:
    shipped = load_policy(REPO / "deploy" / "oncall" / "severities.yaml")
    assert shipped.severities == SeverityPolicy().severities
    rotation = load_rotations(REPO / "deploy" / "oncall" / "rotations.yaml")
    assert check(rotation, utc(2026, 12, 7, 8), utc(2027, 2, 1, 8)).ok


def test_policy_response_times_follow_business_hours() -> None:
    policy = load_policy(REPO / "deploy" / "oncall" / "severities.yaml")
    thursday_noon = utc(2026, 12, 3, 11)  # 12:00 in Berlin
    saturday = utc(2026, 12, 5, 11)
    assert policy.response_time("P1", thursday_noon) == timedelta(minutes=5)
    assert policy.response_time("P1", saturday) == timedelta(minutes=15)
    assert policy.page_time("P1", saturday) == saturday
    assert policy.page_time("P4", saturday) == utc(2026, 12, 7, 8)  # Monday 09:00 CET
    assert policy.page_time("P4", thursday_noon) == thursday_noon


def test_ics_events_are_whole_shifts_with_uids_that_do_not_move_with_the_window() -> None:
    """A feed read at another moment (the calendar route's window starts a week before now)
    names the same events: the first and last shifts are not cut at the window's edges, so
    neither their times nor their UIDs change with it."""
    cfg = config()

    def events(start: datetime) -> dict[str, tuple[str, datetime, datetime]]:
        data = to_ics(cfg, start, start + timedelta(weeks=2), now=start)
        return {
            str(e["UID"]): (str(e["SUMMARY"]), e.decoded("DTSTART"), e.decoded("DTEND"))
            for e in Calendar.from_ical(data).walk("VEVENT")
        }

    first = events(utc(2026, 3, 4, 10, 17))
    later = events(utc(2026, 3, 4, 13, 42))
    assert first == later
    primary = sorted(v for v in first.values() if "Primary" in v[0])
    assert primary[0] == ("On call (Primary): a", utc(2026, 3, 2, 8), utc(2026, 3, 9, 8))
    assert primary[-1] == ("On call (Primary): c", utc(2026, 3, 16, 8), utc(2026, 3, 23, 8))
