"""The on-call schedule as an iCalendar (RFC 5545) document, made with the icalendar library.

One event per shift and layer; a gap is an event too ("nobody on call"), so a calendar shows
it. Events are whole shifts: the first and last of a rotating layer run from and to their
handoffs, not from and to the window's edges. Event UIDs derive from layer, member and start,
so a feed read at another moment, or a re-export, updates rather than duplicates the events.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event

from ragops.oncall.policy import LAYERS
from ragops.oncall.rotations import LayerRotation, RotationConfig
from ragops.oncall.schedule import shift_start, shifts

LAYER_TITLES = {"primary": "Primary", "engineering_lead": "Engineering lead", "vp": "VP"}


def to_ics(
    config: RotationConfig, start: datetime, end: datetime, *, now: datetime | None = None
) -> bytes:
    """The shifts of every layer between `start` and `end` as iCalendar bytes."""
    calendar = Calendar()
    calendar.add("prodid", "-//ragops//on-call//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", "ragops on-call")
    stamp = (now or datetime.now(UTC)).astimezone(UTC)
    for layer in LAYERS:
        rotation = config.layer(layer)
        begin, finish = start, end
        if rotation.members:  # widened to whole shifts
            begin = shift_start(rotation, config.timezone, start)
            finish = _next_handoff(rotation, config.timezone, end)
        for shift in shifts(config, layer, begin, finish):
            who = shift.member or "nobody (gap)"
            event = Event()
            key = f"{layer}|{shift.member}|{shift.start.isoformat()}"
            event.add("uid", hashlib.sha256(key.encode()).hexdigest()[:32] + "@ragops")
            event.add("dtstamp", stamp)
            event.add("dtstart", shift.start)
            event.add("dtend", shift.end)
            event.add("summary", f"On call ({LAYER_TITLES[layer]}): {who}")
            if shift.source == "override":
                event.add("description", f"Override: {shift.reason or 'no reason given'}")
            event.add("categories", [layer])
            calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data


def _next_handoff(rotation: LayerRotation, tz_name: str, at: datetime) -> datetime:
    """The first handoff of `rotation` at or after `at`."""
    current = shift_start(rotation, tz_name, at)
    if current >= at:
        return current
    # a point inside the next shift (a shift is `shift_weeks` weeks, give or take the hour
    # of a daylight-saving change)
    return shift_start(rotation, tz_name, current + timedelta(weeks=rotation.shift_weeks, hours=2))
