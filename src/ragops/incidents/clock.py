"""The clock of incidents and escalation: real UTC time, replaceable as a whole.

Every incident time (opening, acknowledgement, escalation, reminders) comes from `now()`, so a
test or an incident drill can run the process on a controlled clock with `use(source)`,
including inside a running server of the same process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from ragops.db.base import utcnow

_source: Callable[[], datetime] = utcnow


def now() -> datetime:
    """The current time (aware UTC) of the incidents' clock."""
    return _source()


@contextmanager
def use(source: Callable[[], datetime]) -> Iterator[None]:
    """Run the block with `source` as the clock; the real clock comes back afterwards."""
    global _source
    previous, _source = _source, source
    try:
        yield
    finally:
        _source = previous
