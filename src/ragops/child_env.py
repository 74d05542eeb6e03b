"""The environment of the processes ragops starts on the operator's behalf (the rollback
drill's releases and servers, the local stack's supervisord): the basics a process needs from
this one's environment, `PATH` to find programs, `HOME`, locale, time zone, temporary and cache
directories, and nothing else of it. No `RAGOPS_*` setting, `PG*` variable or credential of
the operator's shell reaches them; the caller adds what they need.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

CLEAN_ENV_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "XDG_CACHE_HOME", "TMPDIR")


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """`CLEAN_ENV_KEYS` as this process has them, then `extra`."""
    env = {key: os.environ[key] for key in CLEAN_ENV_KEYS if key in os.environ}
    return env | dict(extra or {})
