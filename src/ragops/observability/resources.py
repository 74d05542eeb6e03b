"""What this process may use and does use: CPU cores, memory limit, CPU time, resident memory.

Limits come from the cgroup (v2, then v1) when one is set, else from the machine, so CPU and
memory alerts can be ratios against what the container really has. Linux-first; other
systems fall back to `os` values.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, ValueError):
        return None


def _cgroup_cpu_quota(root: Path) -> float | None:
    """Cores granted by the cgroup CPU quota, or None when unlimited or unknown."""
    v2 = _read(root / "cpu.max")
    if v2:
        quota, _, period = v2.partition(" ")
        if quota != "max" and period:
            return int(quota) / int(period)
        return None
    quota_v1 = _read(root / "cpu" / "cpu.cfs_quota_us")
    period_v1 = _read(root / "cpu" / "cpu.cfs_period_us")
    if quota_v1 and period_v1 and int(quota_v1) > 0 and int(period_v1) > 0:
        return int(quota_v1) / int(period_v1)
    return None


def cpu_cores(root: Path = CGROUP_ROOT) -> float:
    """CPU cores this process may use: the cgroup quota or the CPU affinity, whichever is less."""
    try:
        available = float(len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        available = float(os.cpu_count() or 1)
    quota = _cgroup_cpu_quota(root)
    return min(available, quota) if quota else available


def total_memory_bytes() -> int:
    """Physical memory of the machine."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 0


def memory_limit_bytes(root: Path = CGROUP_ROOT) -> int:
    """The cgroup memory limit when one is set (and below physical memory), else total RAM."""
    total = total_memory_bytes()
    for candidate in (root / "memory.max", root / "memory" / "memory.limit_in_bytes"):
        text = _read(candidate)
        if text and text.isdigit():
            limit = int(text)
            # cgroup v1 reports "no limit" as a huge number.
            if 0 < limit and (total == 0 or limit < total):
                return limit
            break
    return total


def cpu_seconds() -> float:
    """User plus system CPU time of this process (all threads)."""
    return time.process_time()


def resident_memory_bytes() -> int | None:
    """Resident set size of this process, or None where /proc is not available."""
    text = _read(Path("/proc/self/statm"))
    if not text:
        return None
    fields = text.split()
    return int(fields[1]) * os.sysconf("SC_PAGE_SIZE") if len(fields) > 1 else None
