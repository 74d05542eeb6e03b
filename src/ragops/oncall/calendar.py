"""The on-call schedule as an iCalendar (RFC 5545) document, made with the icalendar library.

One event per shift and layer; a gap is an event too ("nobody on call"), so a calendar shows
it. Event UIDs derive from layer, member and start, so re-exports update rather than
duplicate the events in a subscribed calendar.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from icalendar import Calendar, Event

from ragops.oncall.rotations import RotationConfig
from ragops.oncall.schedule import schedule

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
    for layer, layer_shifts in schedule(config, start, end).items():
        for shift in layer_shifts:
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
