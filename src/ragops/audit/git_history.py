"""The history half of `ragops audit secrets`: every blob of every commit, scanned like a file.

This is what the spec's truffleHog step does: a secret committed once and deleted later is
still in the repository (and in every clone), so it is still a finding until it is rotated
and the history rewritten. Every blob reachable from any ref (`git rev-list --all --objects`)
is written, under its own path, into a scratch folder and scanned with the plugins and filters
of the working tree scan; a blob larger than `max_blob_bytes` is reported as not audited.
"""

from __future__ import annotations

# git is the only program run here, with fixed argument lists and no shell.
import subprocess  # nosec B404
import tempfile
from collections.abc import Iterator
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
    root: Path, allowed: set[tuple[str, str]], *, max_blob_bytes: int
) -> tuple[int, list[Finding]]:
    """Scan every reachable blob; findings for secrets whose (hash, type) is not `allowed`."""
    blobs = reachable_blobs(root)
    findings: list[Finding] = []
    small = []
    for sha, name, size in blobs:
        if size > max_blob_bytes:
            findings.append(
                Finding.not_audited(
                    CHECK,
                    "History blob not scanned",
                    f"blob {sha} is {size} bytes, above the {max_blob_bytes}-byte limit",
                    name,
                )
            )
        else:
            small.append((sha, name))
    names = dict(small)
    seen: set[tuple[str, str]] = set()
    with tempfile.TemporaryDirectory(prefix="ragops-audit-history-") as scratch:
        base = Path(scratch)
        for sha, data in blob_contents(root, [sha for sha, _ in small]):
            relative = _safe_relative(names[sha])
            if relative is None:
                reason = f"blob {sha} has a path that cannot be written safely"
                findings.append(
                    Finding.not_audited(CHECK, "History blob not scanned", reason, names[sha])
                )
                continue
            target = base / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            try:
                found = scan_files(base, [relative])
            finally:
                target.unlink()
            for (_, digest, kind), secret in sorted(found.items()):
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
                        f"{relative}:{secret.line_number}@{commit[:12]}",
                        key=digest,
                    )
                )
    return len(blobs), findings
