"""Metrics and log events of degraded operation: a component running on its fallback (rate
limits on per-instance counters, the cache bypassed), answers produced by a fallback, circuit
breaker states (the breakers live in providers/llm/breaker.py), and refusals that protect
capacity (ingestion budget). Defined here so that importing `ragops.observability.metrics`
registers every series the alert rules read.

A step of a request that used a fallback notes it (`note_degraded`); the answer of that
request then says it is degraded (`noted_degradations`). Each switch to or from a fallback is
logged once (`fallback_engaged` / `fallback_recovered`), never per request.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import structlog
from prometheus_client import Counter, Gauge

log = structlog.get_logger(__name__)

FALLBACK_ACTIVE = Gauge(
    "ragops_fallback_active",
    "1 while a component runs on its fallback (rate_limit: per-instance counters; "
    "cache: bypassed), by component.",
    ["component"],
    multiprocess_mode="max",
)
FALLBACK_SWITCHES = Counter(
    "ragops_fallback_switches_total",
    "Switches of a component to its fallback (state=engaged) and back (state=recovered).",
    ["component", "state"],
)
DEGRADED_RESPONSES = Counter(
    "ragops_degraded_responses_total",
    "Answers produced by a fallback (header X-Degraded), by reason.",
    ["reason"],
)
CIRCUIT_STATE = Gauge(
    "ragops_llm_circuit_state",
    "Circuit breaker of each LLM provider: 0 closed, 1 half-open, 2 open.",
    ["provider"],
    multiprocess_mode="max",
)
CIRCUIT_TRANSITIONS = Counter(
    "ragops_llm_circuit_transitions_total",
    "Changes of state of the LLM circuit breakers, by provider and new state.",
    ["provider", "state"],
)
INGEST_REFUSED = Counter(
    "ragops_ingest_refused_total",
    "Documents refused by the ingestion cost budget, by reason.",
    ["reason"],
)

_lock = threading.Lock()
_active: dict[str, str] = {}
# The fallbacks used while serving the current request (a list shared with the request's
# child tasks, which copy the context but not the list).
_notes: ContextVar[list[str] | None] = ContextVar("ragops_degraded_notes", default=None)


def fallback_engaged(component: str, reason: str) -> None:
    """Record that `component` now runs on its fallback (logged once per switch)."""
    with _lock:
        first = component not in _active
        _active[component] = reason
    if first:
        FALLBACK_ACTIVE.labels(component).set(1)
        FALLBACK_SWITCHES.labels(component, "engaged").inc()
        log.warning("fallback_engaged", component=component, reason=reason)


def fallback_recovered(component: str) -> None:
    """Record that `component` is back on its primary backend (logged once per switch)."""
    with _lock:
        was = _active.pop(component, None)
    if was is not None:
        FALLBACK_ACTIVE.labels(component).set(0)
        FALLBACK_SWITCHES.labels(component, "recovered").inc()
        log.info("fallback_recovered", component=component)


def active_fallbacks() -> dict[str, str]:
    """The components on their fallback now, with the reason."""
    with _lock:
        return dict(_active)


def record_degraded_response(reason: str) -> None:
    """Count one answer produced by a fallback."""
    DEGRADED_RESPONSES.labels(reason).inc()


def record_ingest_refused(reason: str) -> None:
    """Count one document refused by the ingestion budget."""
    INGEST_REFUSED.labels(reason).inc()


@contextmanager
def request_notes() -> Iterator[list[str]]:
    """Collect, for one request, the fallbacks its steps used (`note_degraded`)."""
    notes: list[str] = []
    token = _notes.set(notes)
    try:
        yield notes
    finally:
        _notes.reset(token)


def note_degraded(reason: str) -> None:
    """Record that a step of the current request used a fallback (`kind: detail`): the answer
    of the request says it is degraded. Outside a request, nothing happens."""
    notes = _notes.get()
    if notes is not None and reason not in notes:
        notes.append(reason)


def noted_degradations() -> list[str]:
    """The fallbacks the current request used so far, first one first."""
    return list(_notes.get() or [])
