"""`ragops audit secrets`: detect-secrets over a throwaway git repository, tree and history."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from ragops.audit.cli import audit_app
from ragops.audit.findings import Finding, Severity, Status
from ragops.audit.secret_scan import audit_secrets
from tests.audit.helpers import commit, fake_aws_key, fake_private_key_block, init_repo

runner = CliRunner()
DETECT_SECRETS = str(Path(sys.executable).with_name("detect-secrets"))
KEY_TYPES = {"AWS Access Key", "Private Key"}


def _leaked_then_deleted(tmp_path: Path) -> Path:
    repo = init_repo(tmp_path / "repo", {"README.md": "A small project.\n"})
    leak = f'aws_access_key_id = "{fake_aws_key()}"\n' + fake_private_key_block()
    commit(repo, {"deploy/credentials.txt": leak}, "add credentials")
    commit(repo, {}, "remove credentials", delete=("deploy/credentials.txt",))
    return repo


def _types(findings: list[Finding]) -> set[str]:
    return {f.title.removesuffix(" in git history") for f in findings}


def test_history_finds_a_deleted_secret(tmp_path: Path) -> None:
    repo = _leaked_then_deleted(tmp_path)
    result = audit_secrets(repo)
    history = [f for f in result.findings if f.title.endswith("in git history")]
    assert _types(history) == KEY_TYPES
    assert all(f.severity is Severity.CRITICAL for f in history)
    assert all(f.location.startswith("deploy/credentials.txt:") for f in history)
    # Reports name the secret by type and hash, never by value.
    assert fake_aws_key() not in json.dumps([f.as_dict() for f in result.findings])


def test_working_tree_scan_does_not_see_a_deleted_secret(tmp_path: Path) -> None:
    repo = _leaked_then_deleted(tmp_path)
    result = audit_secrets(repo, history=False)
    # The temporary repository has no baseline; apart from saying so, nothing is found.
    assert [f.title for f in result.findings] == ["No reviewed secrets baseline"]


def test_secret_in_the_tree_is_found(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo", {"config.py": f'KEY = "{fake_aws_key()}"\n'})
    result = audit_secrets(repo, history=False)
    [finding] = [f for f in result.findings if f.severity is Severity.CRITICAL]
    assert finding.title == "AWS Access Key not in the reviewed baseline"
    assert finding.location == "config.py:1"


def test_cli_fails_on_history_and_writes_reports(tmp_path: Path) -> None:
    repo, out = _leaked_then_deleted(tmp_path), tmp_path / "out"
    result = runner.invoke(audit_app, ["secrets", "--repo", str(repo), "-o", str(out)])
    assert result.exit_code == 1, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["counts"]["critical"] == 2
    assert "git history" in (out / "report.md").read_text()


def _baseline(repo: Path) -> Path:
    """Write .secrets.baseline as the documented command does, and commit it."""
    scan = subprocess.run(
        [DETECT_SECRETS, "scan", "--no-verify"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    (repo / ".secrets.baseline").write_text(scan.stdout, encoding="utf-8")
    commit(repo, {}, "add secrets baseline")
    return repo / ".secrets.baseline"


def test_clean_repository_passes(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo", {"app.py": "print('hello')\n", "README.md": "Docs.\n"})
    _baseline(repo)
    out = tmp_path / "out"
    result = runner.invoke(audit_app, ["secrets", "--repo", str(repo), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "report.json").read_text())["findings"] == []


def test_baseline_review_verdicts(tmp_path: Path) -> None:
    # A connection-string example detect-secrets reports as Basic Auth Credentials.
    example = (
        "DATABASE_URL=postgresql://app:example-only@db.internal/app\n"  # pragma: allowlist secret
    )
    repo = init_repo(tmp_path / "repo", {"docs/setup.md": example})
    baseline_file = _baseline(repo)
    unreviewed = audit_secrets(repo).findings
    assert [(f.title, f.severity) for f in unreviewed] == [
        ("Unreviewed Basic Auth Credentials in the baseline", Severity.MEDIUM)
    ]
    baseline = json.loads(baseline_file.read_text())
    for entries in baseline["results"].values():
        for entry in entries:
            entry["is_secret"] = False  # what `detect-secrets audit` records for "not a secret"
    baseline_file.write_text(json.dumps(baseline), encoding="utf-8")
    assert audit_secrets(repo).findings == []
    for entries in baseline["results"].values():
        for entry in entries:
            entry["is_secret"] = True
    baseline_file.write_text(json.dumps(baseline), encoding="utf-8")
    [confirmed] = audit_secrets(repo).findings
    assert confirmed.severity is Severity.CRITICAL and confirmed.status is Status.FINDING


def test_untracked_file_is_scanned_and_all_files_reaches_ignored_ones(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo", {".gitignore": "local/\n"})
    (repo / "new.py").write_text(f'KEY = "{fake_aws_key()}"\n', encoding="utf-8")
    (repo / "local").mkdir()
    (repo / "local" / "key.pem").write_text(fake_private_key_block(), encoding="utf-8")
    default = audit_secrets(repo, history=False).findings
    assert [f.location for f in default if f.severity is Severity.CRITICAL] == ["new.py:1"]
    every = audit_secrets(repo, history=False, all_files=True).findings
    assert {f.location for f in every if f.severity is Severity.CRITICAL} == {
        "new.py:1",
        "local/key.pem:1",
    }


def test_not_a_git_checkout_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    result = runner.invoke(audit_app, ["secrets", "--repo", str(folder), "-o", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "not a git checkout" in result.output


def test_a_long_history_is_scanned_on_several_processes_and_the_checkout_once(
    tmp_path: Path,
) -> None:
    # 120 notes edited twice: enough blobs to share among processes; the leak in the middle
    files = {f"notes/n{i:03}.md": f"Note {i}, first draft.\n" for i in range(120)}
    repo = init_repo(tmp_path / "repo", files)
    commit(repo, {"notes/n060.md": f'aws_access_key_id = "{fake_aws_key()}"\n'}, "leak")
    commit(repo, {name: text.replace("first", "second") for name, text in files.items()}, "edit")
    from ragops.audit.git_history import scan_history
    from ragops.audit.secret_scan import blob_ids, checkout_files, scanner_settings

    checkout = checkout_files(repo, all_files=False)
    for jobs in (1, 2):
        with scanner_settings(None):  # the forked processes inherit the plugins
            blobs, same, findings = scan_history(
                repo, set(), max_blob_bytes=1 << 20, scanned=blob_ids(repo, checkout), jobs=jobs
            )
        assert blobs == 120 * 2 + 1  # first drafts and the leak; the checkout's second drafts
        assert same == 120  # the checkout's own files are not scanned again
        [finding] = findings
        assert finding.title == "AWS Access Key in git history"
        assert finding.location.startswith("notes/n060.md:1@")
    result = audit_secrets(repo)
    assert "(120 of them the checkout's own files, not scanned twice)" in result.summary
    assert _types([f for f in result.findings if f.title.endswith("git history")]) == {
        "AWS Access Key"
    }
