"""The circuit breaker's state machine, on a controlled clock."""

from __future__ import annotations

from ragops.providers.llm.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_repeated_failures_then_probes_once_and_closes() -> None:
    clock = Clock()
    breaker = CircuitBreaker("test-a", failure_threshold=3, reset_seconds=10, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.failure("boom")
    assert breaker.state == "closed"
    assert breaker.allow()
    breaker.failure("boom")
    assert breaker.state == "open" and not breaker.allow()

    clock.now = 10.0
    assert breaker.state == "half_open"
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one at a time
    breaker.success()
    assert breaker.state == "closed" and breaker.allow()


def test_a_failed_probe_opens_again_for_a_full_wait() -> None:
    clock = Clock()
    breaker = CircuitBreaker("test-b", failure_threshold=1, reset_seconds=5, clock=clock)
    breaker.failure("down")
    clock.now = 5.0
    assert breaker.allow()
    breaker.failure("still down")
    assert breaker.state == "open" and not breaker.allow()
    clock.now = 9.0
    assert not breaker.allow()
    clock.now = 10.0
    assert breaker.allow()


def test_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker("test-c", failure_threshold=2, reset_seconds=5)
    breaker.failure("x")
    breaker.success()
    breaker.failure("x")
    assert breaker.state == "closed"
