"""The `X-Degraded` response header of an answer produced by a fallback.

Its value is the kind of fallback (`llm_failover`, `llm_unavailable`, `output_guard`): what
a client or a load test needs to count degraded answers without reading bodies. The body says
the same (`"degraded": true` and `fallback_reason`).
"""

from __future__ import annotations

from typing import Protocol


class _HasFallback(Protocol):
    @property
    def fallback_reason(self) -> str | None: ...


DEGRADED_HEADER = "X-Degraded"


def degraded_header(answer: _HasFallback) -> dict[str, str]:
    """`{"X-Degraded": kind}` for a degraded answer, else no header."""
    if not answer.fallback_reason:
        return {}
    return {DEGRADED_HEADER: answer.fallback_reason.split(":", 1)[0]}
