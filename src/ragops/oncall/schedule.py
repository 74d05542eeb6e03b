"""Who is on call when: rotation shifts, overrides that win over them, and the checks.

A layer's shift boundaries are its handoffs at wall-clock time in the rotation's time zone,
so a week across a daylight-saving change is 167 or 169 hours long. An override wins over
the rotation; of overlapping overrides the later one in the file wins. A layer with no
members and no override has nobody: a gap.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ragops.oncall.policy import LAYERS, Layer, zone
from ragops.oncall.rotations import LayerRotation, Override, RotationConfig


@dataclass(frozen=True)
class Shift:
    """`member` (None: nobody) covers `layer` from `start` to `end` (UTC)."""

    layer: Layer
    member: str | None
    start: datetime
    end: datetime
    source: str  # "rotation", "override" or "gap"
    reason: str = ""

    @property
    def hours(self) -> float:
        """Length in hours."""
        return (self.end - self.start).total_seconds() / 3600


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return value.astimezone(UTC)


def _handoff_at(rotation: LayerRotation, tz_name: str, day: datetime) -> datetime:
    tz = zone(tz_name)
    return datetime.combine(day.date(), rotation.handoff.time, tzinfo=tz).astimezone(UTC)


def shift_start(rotation: LayerRotation, tz_name: str, at: datetime) -> datetime:
    """The last handoff of `rotation` at or before `at` (UTC)."""
    tz = zone(tz_name)
    local = _utc(at).astimezone(tz)
    back = (local.weekday() - rotation.handoff.weekday) % 7
    candidate = _handoff_at(rotation, tz_name, local - timedelta(days=back))
    if candidate > at:
        candidate = _handoff_at(rotation, tz_name, local - timedelta(days=back + 7))
    # shifts longer than a week start on the anchor's week parity
    weeks = _week_index(rotation, tz_name, candidate)
    extra = weeks % rotation.shift_weeks
    if extra:
        candidate = _handoff_at(
            rotation, tz_name, candidate.astimezone(tz) - timedelta(days=7 * extra)
        )
    return candidate


def _week_index(rotation: LayerRotation, tz_name: str, handoff: datetime) -> int:
    local_day = handoff.astimezone(zone(tz_name)).date()
    anchor = rotation.start - timedelta(
        days=(rotation.start.weekday() - rotation.handoff.weekday) % 7
    )
    return (local_day - anchor).days // 7


def rotation_member(rotation: LayerRotation, tz_name: str, at: datetime) -> str | None:
    """The member the rotation (without overrides) puts on call at `at`."""
    if not rotation.members:
        return None
    start = shift_start(rotation, tz_name, at)
    index = _week_index(rotation, tz_name, start) // rotation.shift_weeks
    return rotation.members[index % len(rotation.members)]


def active_override(config: RotationConfig, layer: Layer, at: datetime) -> Override | None:
    """The override covering `layer` at `at`; the last one listed wins."""
    found = None
    for override in config.overrides:
        if override.layer == layer and override.start <= at < override.end:
            found = override
    return found


def on_call(config: RotationConfig, layer: Layer, at: datetime) -> tuple[str | None, str]:
    """(member or None, source) of `layer` at `at`."""
    override = active_override(config, layer, at)
    if override is not None:
        return override.member, "override"
    member = rotation_member(config.layer(layer), config.timezone, at)
    return member, "rotation" if member else "gap"


def _boundaries(
    config: RotationConfig, layer: Layer, start: datetime, end: datetime
) -> list[datetime]:
    points = {start, end}
    rotation = config.layer(layer)
    if rotation.members:
        handoff = shift_start(rotation, config.timezone, start)
        tz = zone(config.timezone)
        week = 0
        while True:
            week += 1
            local = handoff.astimezone(tz) + timedelta(days=7 * week)
            point = _handoff_at(rotation, config.timezone, local)
            if point >= end:
                break
            points.add(point)
    for override in config.overrides:
        if override.layer == layer:
            for point in (_utc(override.start), _utc(override.end)):
                if start < point < end:
                    points.add(point)
    return sorted(points)


def shifts(config: RotationConfig, layer: Layer, start: datetime, end: datetime) -> list[Shift]:
    """The shifts of `layer` between `start` and `end`, adjacent equal ones merged."""
    start, end = _utc(start), _utc(end)
    result: list[Shift] = []
    points = _boundaries(config, layer, start, end)
    for begin, finish in zip(points, points[1:], strict=False):
        member, source = on_call(config, layer, begin)
        override = active_override(config, layer, begin)
        reason = override.reason if override else ""
        if result and (result[-1].member, result[-1].source, result[-1].reason) == (
            member,
            source,
            reason,
        ):
            result[-1] = Shift(layer, member, result[-1].start, finish, source, reason)
            continue
        result.append(Shift(layer, member, begin, finish, source, reason))
    return result


def schedule(config: RotationConfig, start: datetime, end: datetime) -> dict[Layer, list[Shift]]:
    """Every layer's shifts in the window."""
    return {layer: shifts(config, layer, start, end) for layer in LAYERS}


@dataclass
class CheckReport:
    """What `ragops oncall check` found in a window."""

    gaps: list[Shift] = field(default_factory=list)
    overlaps: list[tuple[Override, Override]] = field(default_factory=list)
    load: dict[str, float] = field(default_factory=dict)
    unbalanced: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No gap (overlaps and unbalanced load are warnings)."""
        return not self.gaps


def check(
    config: RotationConfig, start: datetime, end: datetime, *, tolerance: float = 1.5
) -> CheckReport:
    """Gaps in any layer, overlapping overrides and the primary layer's load per member.

    The load is unbalanced when a member carries more than `tolerance` times the fair share
    (the window's hours divided by the primary members) or less than its inverse."""
    report = CheckReport()
    for layer in LAYERS:
        report.gaps += [s for s in shifts(config, layer, start, end) if s.member is None]
    for i, first in enumerate(config.overrides):
        for second in config.overrides[i + 1 :]:
            if (
                first.layer == second.layer
                and first.start < second.end
                and second.start < first.end
            ):
                report.overlaps.append((first, second))
    hours: dict[str, float] = defaultdict(float)
    members = config.layer("primary").members
    for member in members:
        hours[member] = 0.0
    for shift in shifts(config, "primary", start, end):
        if shift.member:
            hours[shift.member] += shift.hours
    report.load = dict(sorted(hours.items(), key=lambda item: -item[1]))
    if members:
        fair = (_utc(end) - _utc(start)).total_seconds() / 3600 / len(members)
        report.unbalanced = [
            name
            for name, value in report.load.items()
            if name in members and (value > fair * tolerance or value < fair / tolerance)
        ]
    return report
