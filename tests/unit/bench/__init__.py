"""Tests of the benchmarks under bench/ (scripts, not a package: `load_bench` imports them)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[3] / "bench"


def load_bench(name: str) -> ModuleType:
    """The benchmark script `bench/<name>.py` as a module; its imports of sibling scripts
    (`from retrieval import ...`) resolve to bench/ as when it runs."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    module = importlib.import_module(name)
    assert Path(module.__file__ or "") == BENCH / f"{name}.py", f"{name} is not bench's"
    return module
