"""Fixtures of the ops tests: paths (the ops tools fixture, `ops_tools`, is in tests/conftest.py:
the incident tests use it too, and run first)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ops.support import ROOT


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT
