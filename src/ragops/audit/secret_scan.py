"""`ragops audit secrets`: detect-secrets over the checkout, compared with the reviewed baseline.

The working tree scan covers the files git would commit (`git ls-files --cached --others
--exclude-standard`), or every file with `all_files`; detect-secrets on its own silently scans
nothing outside a git checkout, so a folder that is not one is an error here unless
`all_files` is set. The result is compared with `.secrets.baseline` (plugins, filters and the
reviewed results, as `detect-secrets scan` / `detect-secrets audit` write them):

- a secret not in the baseline is a finding (high; critical for keys);
- a baseline entry reviewed as a real secret (`is_secret: true`) still present is critical;
- a baseline entry nobody reviewed yet is medium.

The history scan (`git_history`) runs with the same plugins and filters. Secret values never
leave this module: reports carry the type, the file, the line and detect-secrets' hash.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re

# git is the only program run here, with fixed argument lists and no shell.
import subprocess  # nosec B404
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from detect_secrets.core import baseline as ds_baseline
from detect_secrets.core.potential_secret import PotentialSecret
from detect_secrets.core.secrets_collection import SecretsCollection
from detect_secrets.settings import get_settings, transient_settings

from ragops.audit.findings import AuditError, CheckResult, Finding, Severity

CHECK = "secrets"
BASELINE_NAME = ".secrets.baseline"
# Never send a candidate secret anywhere to "verify" it.
_VERIFY_FILTER = "detect_secrets.filters.common.is_ignored_due_to_verification_policies"
_EXCLUDE_FILES = "detect_secrets.filters.regex.should_exclude_file"
_CRITICAL_TYPES = {"Private Key", "AWS Access Key"}

SecretKey = tuple[str, str, str]  # (filename, secret hash, type)


def severity_of(secret_type: str) -> Severity:
    """Critical for key material that grants access on its own, high for any other secret."""
    return Severity.CRITICAL if secret_type in _CRITICAL_TYPES else Severity.HIGH


def git(root: Path, *args: str, stdin: str | None = None) -> str:
    """Run one git command in `root` (fed `stdin`), return its stdout; AuditError on failure."""
    try:
        done = subprocess.run(  # nosec B603 B607
            ["git", "-C", str(root), *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        stderr = getattr(exc, "stderr", "") or ""
        raise AuditError(f"git {' '.join(args)} failed in {root}: {stderr.strip() or exc}") from exc
    return done.stdout


def git_toplevel(path: Path) -> Path | None:
    """The top folder of the git checkout holding `path`, or None outside a checkout."""
    try:
        return Path(git(path, "rev-parse", "--show-toplevel").strip())
    except AuditError:
        return None


def load_baseline(path: Path) -> dict[str, Any] | None:
    """The baseline file as detect-secrets would read it (upgraded), or None if missing."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ds_baseline.upgrade(data)
    except (ValueError, KeyError) as exc:
        raise AuditError(
            f"secrets baseline {path} is not a detect-secrets baseline: {exc}"
        ) from exc


@contextlib.contextmanager
def scanner_settings(baseline: dict[str, Any] | None) -> Iterator[None]:
    """detect-secrets configured from the baseline (or its defaults), never verifying online."""
    config: dict[str, Any] = {}
    if baseline is not None:
        config = {k: baseline[k] for k in ("plugins_used", "filters_used") if k in baseline}
    if "plugins_used" not in config:
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

        classes: list[type[Any]] = list(get_mapping_from_secret_type_to_class().values())
        config["plugins_used"] = [{"name": cls.__name__} for cls in classes]
    if "filters_used" in config:
        config["filters_used"] = [
            item for item in config["filters_used"] if item.get("path") != _VERIFY_FILTER
        ]
        config["filters_used"].append(
            {"path": "detect_secrets.filters.common.is_baseline_file", "filename": BASELINE_NAME}
        )
    with transient_settings(config) as settings:
        settings.disable_filters(_VERIFY_FILTER)
        yield


def scan_files(root: Path, files: Iterable[str]) -> dict[SecretKey, PotentialSecret]:
    """Scan `files` (relative to `root`) under the current settings, keyed for comparison."""
    collection = SecretsCollection()
    # detect-secrets matches its file filters against the path it is given; scanning from
    # the root with relative paths makes `--exclude-files` patterns mean what they say.
    with contextlib.chdir(root):
        for name in files:
            if os.path.isfile(name) and not os.path.islink(name):
                collection.scan_file(name)
    return {(name, s.secret_hash, s.type): s for name, s in collection}


def blob_ids(root: Path, files: Iterable[str]) -> frozenset[tuple[str, str]]:
    """(git blob id, path) of each checkout file as it is on disk: a history blob with the same
    id and path is the same file, already scanned."""
    ids = set()
    for name in files:
        path = root / name
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            digest = hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False)
            ids.add((digest.hexdigest(), name))
    return frozenset(ids)


def checkout_files(root: Path, *, all_files: bool) -> list[str]:
    """The files to scan: what git would commit, or every file but `.git` with `all_files`."""
    if not all_files:
        out = git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
        return sorted({name for name in out.split("\0") if name})
    # Folders the baseline's --exclude-files patterns exclude (.venv, var...) are not walked.
    patterns = get_settings().filters.get(_EXCLUDE_FILES, {}).get("pattern", [])
    excluded = [re.compile(p) for p in patterns]
    found: list[str] = []
    for folder, dirs, names in os.walk(root):
        relative = os.path.relpath(folder, root)
        prefix = "" if relative == "." else relative + "/"
        dirs[:] = [
            d for d in dirs if d != ".git" and not any(r.search(f"{prefix}{d}/") for r in excluded)
        ]
        found += [prefix + n for n in names]
    return sorted(found)


def baseline_results(baseline: dict[str, Any] | None) -> dict[SecretKey, PotentialSecret]:
    """The baseline's reviewed results, keyed like `scan_files` keys its results."""
    if baseline is None:
        return {}
    collection = SecretsCollection.load_from_baseline(baseline)
    return {(name, s.secret_hash, s.type): s for name, s in collection}


def compare_with_baseline(
    current: dict[SecretKey, PotentialSecret], reviewed: dict[SecretKey, PotentialSecret]
) -> list[Finding]:
    """Findings for secrets that are new, confirmed real, or not yet reviewed."""
    findings: list[Finding] = []
    for key, secret in sorted(current.items()):
        name, digest, kind = key
        location = f"{name}:{secret.line_number}"
        entry = reviewed.get(key)
        if entry is None:
            findings.append(
                Finding.make(
                    CHECK,
                    severity_of(kind),
                    f"{kind} not in the reviewed baseline",
                    f"detect-secrets found a {kind} (sha1 {digest[:12]}) that {BASELINE_NAME} "
                    "does not list. Remove and rotate it, or review it into the baseline if it "
                    "is not a secret.",
                    location,
                    key=digest,
                )
            )
        elif entry.is_secret is True:
            findings.append(
                Finding.make(
                    CHECK,
                    Severity.CRITICAL,
                    f"Confirmed {kind} still in the checkout",
                    f"The baseline marks this {kind} (sha1 {digest[:12]}) as a real secret; "
                    "remove it and rotate it.",
                    location,
                    key=digest,
                )
            )
        elif entry.is_secret is None:
            findings.append(
                Finding.make(
                    CHECK,
                    Severity.MEDIUM,
                    f"Unreviewed {kind} in the baseline",
                    f"{BASELINE_NAME} lists this {kind} (sha1 {digest[:12]}) without a review "
                    "verdict; run `detect-secrets audit .secrets.baseline`.",
                    location,
                    key=digest,
                )
            )
    return findings


def audit_secrets(
    path: Path,
    *,
    baseline_path: Path | None = None,
    all_files: bool = False,
    history: bool = True,
    max_blob_bytes: int = 20 * 1024 * 1024,
) -> CheckResult:
    """Scan the checkout at `path` (and, with `history`, every blob git holds) for secrets."""
    from ragops.audit.git_history import scan_history

    if not path.is_dir():
        raise AuditError(f"{path} is not a folder")
    top = git_toplevel(path)
    if top is None and (history or not all_files):
        raise AuditError(
            f"{path} is not a git checkout; use --all-files --no-history to scan a plain folder"
        )
    root = top or path
    baseline_file = baseline_path or root / BASELINE_NAME
    baseline = load_baseline(baseline_file)
    findings: list[Finding] = []
    if baseline is None:
        findings.append(
            Finding.make(
                CHECK,
                Severity.MEDIUM,
                "No reviewed secrets baseline",
                f"{baseline_file.name} is missing: nothing records which candidates were "
                "reviewed. Create it with `detect-secrets scan` and review it.",
                str(baseline_file.name),
            )
        )
    with scanner_settings(baseline):
        files = checkout_files(root, all_files=all_files)
        current, reviewed = scan_files(root, files), baseline_results(baseline)
        findings += compare_with_baseline(current, reviewed)
        summary = f"detect-secrets scanned {len(files)} files of the checkout"
        if history:
            # Secrets of the working tree are reported above; reviewed false positives are not.
            allowed = {(k[1], k[2]) for k in current}
            allowed |= {(k[1], k[2]) for k, s in reviewed.items() if s.is_secret is False}
            blobs, same, history_findings = scan_history(
                root, allowed, max_blob_bytes=max_blob_bytes, scanned=blob_ids(root, files)
            )
            findings += history_findings
            summary += (
                f" and {blobs} blobs of the git history ({same} of them the checkout's own "
                "files, not scanned twice)"
            )
    return CheckResult(CHECK, summary, findings)
