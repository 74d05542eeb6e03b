"""A circuit breaker per LLM provider: stop calling an endpoint that keeps failing.

closed (calls go through) -> after `failure_threshold` consecutive failures -> open (calls are
skipped at once) -> after `reset_seconds` -> half-open (one probe call goes through; success
closes the circuit, failure opens it again for another `reset_seconds`). Every change of state
is logged (`circuit_state_changed`) and shown by `ragops_llm_circuit_state{provider}` (0 closed,
1 half-open, 2 open) and `ragops_llm_circuit_transitions_total{provider,state}`.

Small and local on purpose: the state is per process (each instance learns on its own within
`failure_threshold` calls), which is what a breaker in front of an external API needs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

import structlog

from ragops.observability.degradation import CIRCUIT_STATE, CIRCUIT_TRANSITIONS

State = Literal["closed", "open", "half_open"]
_VALUES: dict[State, int] = {"closed": 0, "half_open": 1, "open": 2}

log = structlog.get_logger(__name__)


class CircuitBreaker:
    """The breaker of one provider (`name` is safe to log: host and model, no key)."""

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 3,
        reset_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = max(1, failure_threshold)
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._state: State = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self.last_error: str | None = None
        CIRCUIT_STATE.labels(name).set(0)
        for state in _VALUES:  # every series exists from the start, so rate() sees the first one
            CIRCUIT_TRANSITIONS.labels(name, state)

    @property
    def state(self) -> State:
        """The state now (an open circuit whose wait has passed reads half-open)."""
        if self._state == "open" and self._clock() - self._opened_at >= self.reset_seconds:
            return "half_open"
        return self._state

    def allow(self) -> bool:
        """Whether a call may go through now (in half-open: only one probe at a time)."""
        state = self.state
        if state == "closed":
            return True
        if state == "open":
            return False
        if self._state == "open":
            self._move("half_open")
        if self._probing:
            return False
        self._probing = True
        return True

    def success(self) -> None:
        """Record a successful call."""
        self._failures = 0
        self._probing = False
        if self._state != "closed":
            self._move("closed")

    def failure(self, error: str) -> None:
        """Record a failed call."""
        self.last_error = error
        self._probing = False
        self._failures += 1
        if self._state == "half_open" or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
            if self._state != "open":
                self._move("open")

    def _move(self, state: State) -> None:
        previous, self._state = self._state, state
        CIRCUIT_STATE.labels(self.name).set(_VALUES[state])
        CIRCUIT_TRANSITIONS.labels(self.name, state).inc()
        log.warning(
            "circuit_state_changed",
            provider=self.name,
            previous=previous,
            state=state,
            failures=self._failures,
            error=self.last_error if state == "open" else None,
        )
