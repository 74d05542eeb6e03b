"""The severity policy: P1-P4 with their response times, escalation delays, communication
cadences and engaged layers, and the business hours that split work from off hours.

The defaults are the spec's (Task 4.7 severities, Task 4.4 response times); a YAML file
(`RAGOPS_SEVERITY_POLICY_FILE`) may override any part. Durations are written as minutes.

- P1: paged at once; 5 min to acknowledge in work hours, 15 off hours; all hands after 15 min;
  an update every 15 min.
- P2: 5 / 15 min to acknowledge; the engineering lead after 15 min; updates every 30 min.
- P3: 30 / 60 min; the engineering lead after 1 h; updates hourly.
- P4: paged only in business hours (next business day); the engineering lead after a day;
  a daily summary.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ragops.os_errors import decode_reason, os_reason

Severity = Literal["P1", "P2", "P3", "P4"]
SEVERITIES: tuple[Severity, ...] = ("P1", "P2", "P3", "P4")
Layer = Literal["primary", "engineering_lead", "vp"]
LAYERS: tuple[Layer, ...] = ("primary", "engineering_lead", "vp")
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)


class PolicyError(ValueError):
    """A policy or rotation file that cannot be read or is invalid."""


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; ValueError naming it when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)"
        ) from None


def wall_time(naive: datetime, tz_name: str) -> datetime:
    """The wall-clock time `naive` in the zone `tz_name`. In the hour clocks go back, the
    first occurrence (the earlier offset); a time clocks jump over is a ValueError."""
    tz = zone(tz_name)
    aware = naive.replace(tzinfo=tz, fold=0)
    if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive:
        return aware
    after = naive.replace(tzinfo=tz, fold=1)  # fold=0 took the offset before the jump
    gap = (after.utcoffset() or timedelta()) - (aware.utcoffset() or timedelta())
    low, high = after.astimezone(UTC), aware.astimezone(UTC)
    while high - low > timedelta(seconds=1):  # the instant the offset changes
        middle = low + (high - low) / 2
        if middle.astimezone(tz).utcoffset() == low.astimezone(tz).utcoffset():
            low = middle
        else:
            high = middle
    end = high.replace(microsecond=0).astimezone(tz)
    start = end - gap
    raise ValueError(
        f"{naive:%Y-%m-%dT%H:%M} does not exist in {tz_name}: on {end:%Y-%m-%d} clocks jump "
        f"from {start:%H:%M} to {end:%H:%M}; give a time outside that gap or an offset"
    )


def parse_clock(value: str | int | time) -> time:
    """A wall-clock time written "HH:MM"."""
    if isinstance(value, time):
        return value
    if isinstance(value, int) and 0 <= value < 24 * 60:
        return time(value // 60, value % 60)  # YAML 1.1 reads an unquoted 17:00 as 1020
    try:
        hours, minutes = (int(part) for part in str(value).split(":"))
        return time(hours, minutes)
    except ValueError:
        raise ValueError(f"{value!r} is not a time of day written HH:MM") from None


class BusinessHours(BaseModel):
    """When work hours are: days of the week and a daily window in one time zone."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = "UTC"
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS[:5]), min_length=1)
    start: time = time(9, 0)
    end: time = time(17, 0)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone(value)
        return value

    @field_validator("start", "end", mode="before")
    @classmethod
    def _clock(cls, value: str | int | time) -> time:
        return parse_clock(value)

    @model_validator(mode="after")
    def _window(self) -> BusinessHours:
        if self.end <= self.start:
            raise ValueError("business hours must end after they start")
        return self

    def is_work_time(self, at: datetime) -> bool:
        """Whether `at` (aware) falls in business hours."""
        local = at.astimezone(zone(self.timezone))
        return WEEKDAYS[local.weekday()] in self.days and self.start <= local.time() < self.end

    def next_work_time(self, at: datetime) -> datetime:
        """`at` itself in business hours, else the next start of business hours."""
        if self.is_work_time(at):
            return at
        tz = zone(self.timezone)
        local = at.astimezone(tz)
        for offset in range(8):
            day = local.date() + timedelta(days=offset)
            if WEEKDAYS[day.weekday()] not in self.days:
                continue
            opening = datetime.combine(day, self.start, tzinfo=tz)
            if opening > local:
                return opening
        raise AssertionError("business hours have at least one day")  # pragma: no cover


class ResponseTime(BaseModel):
    """Minutes to acknowledge a page, in work hours and off hours."""

    model_config = ConfigDict(extra="forbid")

    work_minutes: float = Field(..., gt=0)
    off_minutes: float = Field(..., gt=0)


class SeverityRule(BaseModel):
    """What one severity demands."""

    model_config = ConfigDict(extra="forbid")

    description: str
    response: ResponseTime
    escalation_minutes: float | None = Field(
        ..., gt=0, description="Unresolved this long after opening: page `escalate_to`."
    )
    escalate_to: list[Layer] = Field(default_factory=list)
    communication_minutes: float = Field(..., gt=0, description="Cadence of status updates.")
    page_off_hours: bool = Field(True, description="False: pages wait for business hours.")


DEFAULT_RULES: dict[Severity, SeverityRule] = {
    "P1": SeverityRule(
        description="Critical: production down, data loss, security breach",
        response=ResponseTime(work_minutes=5, off_minutes=15),
        escalation_minutes=15,
        escalate_to=["primary", "engineering_lead", "vp"],
        communication_minutes=15,
    ),
    "P2": SeverityRule(
        description="High: degraded performance (>50% error rate)",
        response=ResponseTime(work_minutes=5, off_minutes=15),
        escalation_minutes=15,
        escalate_to=["engineering_lead"],
        communication_minutes=30,
    ),
    "P3": SeverityRule(
        description="Medium: partial outage (<50% error rate)",
        response=ResponseTime(work_minutes=30, off_minutes=60),
        escalation_minutes=60,
        escalate_to=["engineering_lead"],
        communication_minutes=60,
    ),
    "P4": SeverityRule(
        description="Low: minor issues, no user impact",
        response=ResponseTime(work_minutes=24 * 60, off_minutes=24 * 60),
        escalation_minutes=24 * 60,
        escalate_to=["engineering_lead"],
        communication_minutes=24 * 60,
        page_off_hours=False,
    ),
}


class SeverityPolicy(BaseModel):
    """Every severity's rule and the business hours."""

    model_config = ConfigDict(extra="forbid")

    business_hours: BusinessHours = Field(default_factory=BusinessHours)
    severities: dict[Severity, SeverityRule] = Field(default_factory=lambda: dict(DEFAULT_RULES))

    @model_validator(mode="after")
    def _complete(self) -> SeverityPolicy:
        self.severities = {s: self.severities.get(s, DEFAULT_RULES[s]) for s in SEVERITIES}
        return self

    def rule(self, severity: Severity) -> SeverityRule:
        """The rule of `severity`."""
        return self.severities[severity]

    def response_time(self, severity: Severity, at: datetime) -> timedelta:
        """How long a page sent at `at` may wait for an acknowledgement."""
        response = self.rule(severity).response
        work = self.business_hours.is_work_time(at)
        return timedelta(minutes=response.work_minutes if work else response.off_minutes)

    def page_time(self, severity: Severity, at: datetime) -> datetime:
        """When a page wanted at `at` goes out (P4 waits for business hours)."""
        if self.rule(severity).page_off_hours:
            return at
        return self.business_hours.next_work_time(at)


def load_yaml(path: Path) -> object:
    """The YAML document at `path`; PolicyError when unreadable or malformed."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{path}: cannot read: {decode_reason(exc)}") from None
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read: {os_reason(exc)}") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: not valid YAML: {exc}") from None


def describe_validation(path: Path | str, exc: ValidationError) -> str:
    """One line per problem of a validated file."""
    problems = [
        f"{'.'.join(str(p) for p in error['loc']) or '(top)'}: {error['msg']}"
        for error in exc.errors()[:10]
    ]
    return f"{path}: invalid: " + "; ".join(problems)


def load_policy(path: Path | None) -> SeverityPolicy:
    """The policy in `path`, or the spec's defaults when `path` is None."""
    if path is None:
        return SeverityPolicy()
    document = load_yaml(path) or {}
    try:
        return SeverityPolicy.model_validate(document)
    except ValidationError as exc:
        raise PolicyError(describe_validation(path, exc)) from None
