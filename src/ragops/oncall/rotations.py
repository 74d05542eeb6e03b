"""The rotation file: who is on call in each layer, when shifts hand off, and overrides.

```yaml
timezone: Europe/Berlin
layers:
  primary:
    members: [engineer-a, engineer-b, engineer-c, engineer-d]
    handoff: {day: monday, time: "09:00"}
    shift_weeks: 1
    start: 2026-01-05          # the handoff at which members[0] begins
  engineering_lead: {members: [lead-a]}
  vp: {members: [vp-a]}
overrides:                     # win over the rotation; a later entry wins over an earlier one
  - {layer: primary, member: engineer-c, start: 2026-12-24T18:00, end: 2026-12-27T09:00,
     reason: holiday swap}
contacts:
  engineer-a: {email: a@example.com, slack: "@engineer-a"}
```

Times without an offset are wall-clock times of the file's time zone; handoffs stay at the
same wall-clock time across daylight-saving changes.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ragops.oncall.policy import (
    WEEKDAYS,
    Layer,
    PolicyError,
    Weekday,
    describe_validation,
    load_yaml,
    parse_clock,
    zone,
)
from ragops.os_errors import decode_reason, os_reason

MEMBER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def _member(value: str) -> str:
    if not MEMBER_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a member name (letters, digits, . _ @ -)")
    return value


class Handoff(BaseModel):
    """When a shift hands off: a weekday and a wall-clock time."""

    model_config = ConfigDict(extra="forbid")

    day: Weekday = "monday"
    time: dt.time = dt.time(9, 0)

    @field_validator("time", mode="before")
    @classmethod
    def _clock(cls, value: Any) -> Any:
        return parse_clock(value)

    @property
    def weekday(self) -> int:
        """0 = Monday."""
        return WEEKDAYS.index(self.day)


class LayerRotation(BaseModel):
    """One layer: its members take turns of `shift_weeks` weeks."""

    model_config = ConfigDict(extra="forbid")

    members: list[str] = Field(default_factory=list)
    handoff: Handoff = Field(default_factory=Handoff)
    shift_weeks: int = Field(1, ge=1, le=52)
    start: date = date(2026, 1, 5)

    @field_validator("members")
    @classmethod
    def _members(cls, value: list[str]) -> list[str]:
        return [_member(m) for m in value]


class Override(BaseModel):
    """`member` covers `layer` from `start` to `end`, whatever the rotation says."""

    model_config = ConfigDict(extra="forbid")

    layer: Layer
    member: str
    start: datetime
    end: datetime
    reason: str = Field("", max_length=500)

    @field_validator("member")
    @classmethod
    def _name(cls, value: str) -> str:
        return _member(value)

    @model_validator(mode="after")
    def _span(self) -> Override:
        if self.end.tzinfo is None and self.start.tzinfo is None:
            if self.end <= self.start:
                raise ValueError("an override must end after it starts")
        return self


class Contact(BaseModel):
    """How to reach a member."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = None
    slack: str | None = None
    phone: str | None = None


class RotationConfig(BaseModel):
    """The whole rotation file."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = "UTC"
    layers: dict[Layer, LayerRotation] = Field(default_factory=dict)
    overrides: list[Override] = Field(default_factory=list)
    contacts: dict[str, Contact] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone(value)
        return value

    @model_validator(mode="after")
    def _localize(self) -> RotationConfig:
        tz = zone(self.timezone)
        for override in self.overrides:
            if override.start.tzinfo is None:
                override.start = override.start.replace(tzinfo=tz)
            if override.end.tzinfo is None:
                override.end = override.end.replace(tzinfo=tz)
            if override.end <= override.start:
                raise ValueError(
                    f"override of {override.member} ({override.layer}) ends before it starts"
                )
        return self

    def layer(self, name: Layer) -> LayerRotation:
        """The rotation of layer `name` (an empty one when the file has none)."""
        return self.layers.get(name) or LayerRotation()


def load_rotations(path: Path) -> RotationConfig:
    """The rotation file at `path`; PolicyError when missing or invalid."""
    document = load_yaml(path) or {}
    try:
        return RotationConfig.model_validate(document)
    except ValidationError as exc:
        raise PolicyError(describe_validation(path, exc)) from None


def add_override(path: Path, override: Override) -> RotationConfig:
    """Append `override` to the file at `path` (validated before it is written).

    The file is edited as a YAML round trip: its comments, key order and layout stay as they
    were; the new entry is one flow mapping at the end of `overrides`. The file is replaced
    at once (written beside it, then renamed), never left half written."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.error import YAMLError

    editor = YAML()  # round trip
    editor.indent(mapping=2, sequence=4, offset=2)
    editor.width = 4096  # one line per entry
    editor.preserve_quotes = True
    try:
        document = editor.load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{path}: cannot read: {decode_reason(exc)}") from None
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read: {os_reason(exc)}") from None
    except YAMLError as exc:
        raise PolicyError(f"{path}: not valid YAML: {exc}") from None
    if document is None:
        document = CommentedMap()
    if not isinstance(document, dict):
        raise PolicyError(f"{path}: the rotation file must be a mapping")
    entry = CommentedMap(override.model_dump(mode="json", exclude_defaults=False))
    entry.fa.set_flow_style()
    overrides = document.get("overrides")
    if not isinstance(overrides, CommentedSeq):
        overrides = CommentedSeq(list(overrides or []))
        document["overrides"] = overrides
    if not overrides:
        overrides.fa.set_block_style()  # `overrides: []` becomes a list of entries
    overrides.append(entry)
    text = io.StringIO()
    editor.dump(document, text)
    try:  # validate what the file will hold, read back as every reader of it reads it
        config = RotationConfig.model_validate(yaml.safe_load(text.getvalue()))
    except ValidationError as exc:
        raise PolicyError(describe_validation(path, exc)) from None
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text.getvalue(), encoding="utf-8")
    temporary.replace(path)
    return config
