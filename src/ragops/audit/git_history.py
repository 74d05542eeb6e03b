"""The history half of `ragops audit secrets`: every blob of every commit, scanned like a file.

This is what the spec's truffleHog step does: a secret committed once and deleted later is
still in the repository (and in every clone), so it is still a finding until it is rotated
and the history rewritten. Every blob reachable from any ref (`git rev-list --all --objects`)
is written, under its own path, into a scratch folder and scanned with the plugins and filters
of the working tree scan; a blob larger than `max_blob_bytes` is reported as not audited. A
blob that is the very file the working-tree scan read (same blob id, same path) is not scanned
twice, and the rest are shared among one process a core.
"""

from __future__ import annotations

# git is the only program run here, with fixed argument lists and no shell.
import multiprocessing
import os
import subprocess  # nosec B404
import tempfile
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path, PurePosixPath

from ragops.audit.findings import AuditError, Finding
from ragops.audit.secret_scan import CHECK, git, scan_files, severity_of


def reachable_blobs(root: Path) -> list[tuple[str, str, int]]:
    """(blob id, path, size) of every blob reachable from any ref, each blob once."""
    listing = git(root, "rev-list", "--all", "--objects")
    paths: dict[str, str] = {}
    for line in listing.splitlines():
        sha, _, name = line.partition(" ")
        if name and sha not in paths:
            paths[sha] = name
    if not paths:
        return []
    checked = git(
        root,
        "cat-file",
        "--batch-check=%(objectname) %(objecttype) %(objectsize)",
        stdin="\n".join(paths) + "\n",
    )
    blobs: list[tuple[str, str, int]] = []
    for line in checked.splitlines():
        sha, kind, size = line.split(" ")
        if kind == "blob":
            blobs.append((sha, paths[sha], int(size)))
    return blobs


def blob_contents(root: Path, shas: list[str]) -> Iterator[tuple[str, bytes]]:
    """The contents of each blob, read one after another through one `git cat-file --batch`."""
    with subprocess.Popen(  # nosec B603 B607
        ["git", "-C", str(root), "cat-file", "--batch"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    ) as proc:
        if proc.stdin is None or proc.stdout is None:  # pragma: no cover - set by PIPE
            raise AuditError("git cat-file --batch gave no pipes")
        try:
            for sha in shas:
                proc.stdin.write(sha.encode("ascii") + b"\n")
                proc.stdin.flush()
                header = proc.stdout.readline().split()
                size = int(header[2])
                data = proc.stdout.read(size)
                proc.stdout.read(1)  # the newline after each object
                yield sha, data
        finally:
            proc.stdin.close()
            proc.wait(timeout=60)


def introducing_commit(root: Path, sha: str) -> str:
    """The oldest commit that adds blob `sha` (its full id), or "unknown"."""
    out = git(root, "log", "--all", "--reverse", "--format=%H", f"--find-object={sha}")
    lines = out.split()
    return lines[0] if lines else "unknown"


def _safe_relative(name: str) -> str | None:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        return None
    return str(path)


def scan_history(
    root: Path,
    allowed: set[tuple[str, str]],
    *,
    max_blob_bytes: int,
    scanned: frozenset[tuple[str, str]] = frozenset(),
    jobs: int | None = None,
) -> tuple[int, int, list[Finding]]:
    """Scan every reachable blob; findings for secrets whose (hash, type) is not `allowed`.

    A blob that is the very file the working-tree scan read (`scanned`: its blob id and path)
    is not scanned again: its secrets are that scan's. The rest are scanned on `jobs`
    processes (by default one a core, at most four). Returns the number of reachable blobs,
    how many of them were the checkout's own, and the findings, in the blobs' order."""
    blobs = reachable_blobs(root)
    findings: list[Finding] = []
    todo: list[tuple[str, str]] = []
    same = 0
    for sha, name, size in blobs:
        relative = _safe_relative(name)
        if (sha, name) in scanned:
            same += 1
        elif size > max_blob_bytes:
            reason = f"blob {sha} is {size} bytes, above the {max_blob_bytes}-byte limit"
            findings.append(Finding.not_audited(CHECK, "History blob not scanned", reason, name))
        elif relative is None:
            reason = f"blob {sha} has a path that cannot be written safely"
            findings.append(Finding.not_audited(CHECK, "History blob not scanned", reason, name))
        else:
            todo.append((sha, relative))
    seen: set[tuple[str, str]] = set()
    for sha, relative, found in _scan_all(root, todo, jobs or _default_jobs()):
        for digest, kind, line in found:
            if (digest, kind) in allowed or (digest, kind) in seen:
                continue
            seen.add((digest, kind))
            commit = introducing_commit(root, sha)
            findings.append(
                Finding.make(
                    CHECK,
                    severity_of(kind),
                    f"{kind} in git history",
                    f"{kind} (sha1 {digest[:12]}) committed in {commit} (blob {sha}), "
                    "not in the working tree nor reviewed in the baseline. Deleting it "
                    "does not remove it from history or clones: rotate it, then rewrite "
                    "history if needed.",
                    f"{relative}:{line}@{commit[:12]}",
                    key=digest,
                )
            )
    return len(blobs), same, findings


BlobSecrets = tuple[str, str, list[tuple[str, str, int]]]
"""A scanned blob: its id, its path, and each secret found as (hash, type, line)."""


def _default_jobs() -> int:
    return max(1, min(4, len(os.sched_getaffinity(0))))


def _scan_all(root: Path, todo: list[tuple[str, str]], jobs: int) -> list[BlobSecrets]:
    """Scan the blobs, split over `jobs` forked processes (each inherits the scanner's
    settings) when there are enough of them; results in `todo`'s order."""
    if jobs <= 1 or len(todo) < 2 * PARALLEL_FROM:
        return _scan_blobs(root, todo)
    shares = [todo[i::jobs] for i in range(jobs)]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        parts = list(pool.map(_scan_blobs, [root] * jobs, shares))
    order = {sha: number for number, (sha, _) in enumerate(todo)}
    return sorted((blob for part in parts for blob in part), key=lambda blob: order[blob[0]])


PARALLEL_FROM = 50
"""Fewer blobs than twice this are scanned in this process (a fork costs more than they do)."""


def _scan_blobs(root: Path, todo: list[tuple[str, str]]) -> list[BlobSecrets]:
    """Write each blob under its own path into a scratch folder and scan it there."""
    paths = dict(todo)
    scanned: list[BlobSecrets] = []
    with tempfile.TemporaryDirectory(prefix="ragops-audit-history-") as scratch:
        base = Path(scratch)
        for sha, data in blob_contents(root, [sha for sha, _ in todo]):
            relative = paths[sha]
            target = base / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            try:
                found = scan_files(base, [relative])
            finally:
                target.unlink()
            secrets = [(key[1], key[2], found[key].line_number) for key in sorted(found)]
            scanned.append((sha, relative, secrets))
    return scanned
