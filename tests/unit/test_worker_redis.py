"""Parallel test workers (pytest-xdist) each get a Redis database of their own."""

from __future__ import annotations

from tests.conftest import worker_redis_url


def test_each_worker_takes_its_own_database_below_the_base() -> None:
    base = "redis://127.0.0.1:6379/15"
    urls = {worker_redis_url(base, f"gw{n}") for n in range(3)}
    assert urls == {f"redis://127.0.0.1:6379/{db}" for db in (15, 14, 13)}


def test_a_single_process_run_keeps_the_base_url() -> None:
    assert worker_redis_url("redis://127.0.0.1:6379/9", None) == "redis://127.0.0.1:6379/9"
    assert worker_redis_url("redis://127.0.0.1:6379/9", "master") == "redis://127.0.0.1:6379/9"


def test_the_database_number_wraps_within_redis_sixteen() -> None:
    assert worker_redis_url("redis://127.0.0.1:6379/1", "gw3") == "redis://127.0.0.1:6379/14"
