"""Pytest fixtures for the fakes: `fake_llm`, a fake OpenAI-compatible server on loopback.

Import into `tests/conftest.py` (`from tests.fakes.fixtures import fake_llm`) or load as a
plugin. One server is started lazily and shared by the whole test session; each test gets it
reset (no recorded requests, no pending failures, no canned answer, no API key demanded).
A test that stops it (to see the endpoint down) gets a fresh one started for the next test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .llm import FakeLLMServer

_shared: list[FakeLLMServer] = []


@pytest.fixture
def fake_llm(request: pytest.FixtureRequest) -> Iterator[FakeLLMServer]:
    """The shared fake LLM server, reset for this test; `.base_url` ends in `/v1`."""
    if not _shared or not _shared[0].running:
        server = FakeLLMServer().start()
        request.config.add_cleanup(server.stop)
        _shared[:] = [server]
    server = _shared[0]
    server.reset()
    yield server
    server.reset()


@pytest.fixture(name="llm", scope="module")
def module_llm() -> Iterator[FakeLLMServer]:
    """A fake LLM server of the test module's own, for module-scoped ragops servers that are
    configured with its URL; stopped when the module's tests are done."""
    server = FakeLLMServer().start()
    try:
        yield server
    finally:
        server.stop()
