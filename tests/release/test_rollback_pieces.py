"""Pieces of the rollback drill (the drill itself builds two releases and is run by hand:
`ragops rollback drill`): which release is "previous", when dependencies can be shared, the
environment its commands run in, and the record checks, which must notice a lost session,
message or feedback verdict."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ragops.config import Settings
from ragops.db import migrate
from ragops.release.builds import (
    Build,
    BuildError,
    can_share,
    pins,
    previous_release,
    resolve,
    run,
)
from ragops.release.drill import (
    answers,
    audit_events,
    drill_env,
    missing_feedback,
    missing_records,
    run_release,
    write_records,
)
from tests.conftest import REPO_ROOT, make_settings, run_cli, run_sync


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_previous_release_is_the_last_tag_before(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    for number in range(4):
        (repo / "f.txt").write_text(str(number))
        _git(repo, "add", "f.txt")
        _git(
            repo,
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.org",
            "commit",
            "-qm",
            f"c{number}",
        )
        if number in (0, 2):
            _git(repo, "tag", f"v0.{number}.0")
    assert previous_release(repo, "HEAD") == "v0.2.0"
    assert previous_release(repo, "v0.2.0") == "v0.0.0"
    assert previous_release(repo, "v0.0.0") == "v0.0.0^"  # no older tag: the parent
    assert resolve(repo, "v0.2.0") == resolve(repo, "HEAD~1")
    with pytest.raises(BuildError, match=r"unknown git ref 'v9\.9\.9'"):
        resolve(repo, "v9.9.9")


def test_drill_refuses_an_unknown_ref_or_a_non_postgresql_url_before_building(
    tmp_path: Path,
) -> None:
    """A ref the checkout lacks (a clone without the v0.1.0 tag) or a --database-url that is
    not PostgreSQL stops at once with one line, before a release is built."""
    workdir = ["--workdir", str(tmp_path / "drill"), "--out", str(tmp_path / "drills")]
    unknown = run_cli(
        tmp_path / "var", "rollback", "drill", "--to", "v9.9.9", *workdir, check=False
    )
    assert unknown.returncode == 1, unknown.stdout + unknown.stderr
    assert "unknown git ref 'v9.9.9'" in unknown.stderr
    assert "build" not in unknown.stdout
    sqlite = run_cli(
        tmp_path / "var",
        "rollback",
        "drill",
        "--database-url",
        "sqlite:///x",
        *workdir,
        check=False,
    )
    assert sqlite.returncode == 1 and "PostgreSQL" in sqlite.stderr, sqlite.stderr
    assert not (tmp_path / "drill").exists()


def test_dependencies_are_shared_only_when_every_pin_is_installed(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("# comment\nhttpx==0.0.1 \\\n    --hash=sha256:00\n    # via ragops\n")
    assert pins(lock) == {"httpx": "0.0.1"}
    assert not can_share(lock)  # a version not installed here
    import httpx

    lock.write_text(f"httpx=={httpx.__version__} \\\n    --hash=sha256:00\n")
    assert can_share(lock)
    assert not can_share(tmp_path / "missing.lock")


def test_record_checks_notice_what_is_lost(serve_app: Any, tmp_path: Path) -> None:
    settings: Settings = make_settings(tmp_path / "var", answer_cache=False)
    run_sync(migrate.upgrade(settings))
    live = serve_app(settings)
    with live.client() as client:
        before = audit_events(settings.resolved_database_url)
        written = write_records(client)
        assert len(written.documents) == 3 and len(written.sessions) == 3
        # The records a release writes hold one audit event, the upload (the drill's key is
        # made once, on the newer release): what the runbook's measured run says.
        added = sorted(
            set(audit_events(settings.resolved_database_url).items()) - set(before.items())
        )
        assert [action for _, action in added] == ["documents.ingest"]
        runbook = " ".join((REPO_ROOT / "docs" / "runbooks" / "README.md").read_text().split())
        assert "2 audit events on the newer one (the drill's key, the upload)" in runbook
        assert "and 1 on the older one (the upload;" in runbook
        assert missing_records(client, written) == []
        assert answers(client)
        url = settings.resolved_database_url
        assert missing_feedback(url, written) == []

        lost_session = next(iter(written.sessions))
        assert client.delete(f"/v1/sessions/{lost_session}").status_code == 204
        missing = missing_records(client, written)
        assert missing == [f"session {lost_session}"]
        # the feedback of the deleted session's first answer went with it
        assert missing_feedback(url, written) == [
            f"feedback on {written.sessions[lost_session][0]}"
        ]
        document = written.documents[0]
        assert client.delete(f"/v1/documents/{document}").status_code == 204
        assert f"document {document}" in missing_records(client, written)


def test_a_finished_build_of_the_same_commit_is_reused(tmp_path: Path) -> None:
    from ragops.release.builds import BUILT, build

    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "f.txt").write_text("x")
    _git(repo, "add", "f.txt")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "c")
    commit = resolve(repo, "HEAD")
    workdir = tmp_path / "work"
    venv = workdir / f"venv-{commit[:12]}"
    venv.mkdir(parents=True)
    (venv / BUILT).write_text("own\n")  # what a finished build with its own packages leaves
    again = build(repo, "HEAD", workdir)
    assert again.reused and again.commit == commit and not again.shared_dependencies
    assert again.venv == venv


def test_drill_commands_find_programs_on_path_and_see_no_operator_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The release commands of the drill run with this process's PATH (a tool installed in a
    directory of PATH only is found) and with the drill's scratch settings, never the
    operator's own: a production database URL, an LLM key or a cloud secret stays out."""
    tools = tmp_path / "tools"
    tools.mkdir()
    tool = tools / "drill-probe-tool"
    tool.write_text("#!/bin/sh\necho found\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:/usr/bin:/bin")
    monkeypatch.setenv("RAGOPS_DATABASE_URL", "postgresql+asyncpg://ops@prod-db/ragops")
    monkeypatch.setenv("RAGOPS_LLM_API_KEY", "sk-operator-secret-key")  # pragma: allowlist secret
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "operator-secret")  # pragma: allowlist secret
    probe = (
        "import json, os, shutil, subprocess\n"
        "print(json.dumps({'tool': subprocess.run(['drill-probe-tool'], capture_output=True, "
        "text=True).stdout.strip(), 'env': dict(os.environ)}))"
    )
    scratch = tmp_path / "data"

    seen = json.loads(run([sys.executable, "-c", probe], env=drill_env(scratch, {})))
    assert seen["tool"] == "found"
    assert seen["env"]["RAGOPS_DATA_DIR"] == str(scratch)
    for name in ("RAGOPS_DATABASE_URL", "RAGOPS_LLM_API_KEY", "AWS_SECRET_ACCESS_KEY"):
        assert name not in seen["env"]

    given = {"RAGOPS_DATABASE_URL": "postgresql+asyncpg://drill@scratch-db/drill"}
    seen = json.loads(run([sys.executable, "-c", probe], env=drill_env(scratch, given)))
    assert seen["env"]["RAGOPS_DATABASE_URL"] == given["RAGOPS_DATABASE_URL"]
    assert "RAGOPS_LLM_API_KEY" not in seen["env"]


def test_drill_commands_leave_the_database_of_the_operators_dotenv_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Started from a directory whose `.env` names the operator's database, the drill's
    release commands migrate the scratch database, never that one."""
    deployment = tmp_path / "deployment"
    deployment.mkdir()
    production = tmp_path / "production.db"
    (deployment / ".env").write_text(f"RAGOPS_DATABASE_URL=sqlite+aiosqlite:///{production}\n")
    monkeypatch.chdir(deployment)
    this_release = Build(
        ref="HEAD", commit="0" * 40, root=tmp_path, venv=Path(sys.prefix), shared_dependencies=True
    )
    workdir = tmp_path / "drill"
    workdir.mkdir()
    scratch = workdir / "data"

    run_release(this_release, ["db", "upgrade"], drill_env(scratch, {}), workdir)
    assert (scratch / "ragops.db").is_file()
    assert not production.exists()


def test_a_release_reports_its_own_migrations_whatever_pythonpath_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run from a checkout with `PYTHONPATH=src`, the older release's interpreter imported the
    checkout's ragops: it "knew" the newer head, the drill skipped the downgrade and the older
    release stopped at start (`Can't locate revision`). Its questions run in the clean
    environment its commands get."""
    python = tmp_path / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text('#!/bin/sh\necho "${PYTHONPATH:-clean} ${RAGOPS_DATABASE_URL:-clean}"\n')
    python.chmod(0o755)
    release = Build(
        ref="old", commit="0" * 40, root=tmp_path, venv=tmp_path / "venv", shared_dependencies=False
    )
    monkeypatch.setenv("PYTHONPATH", "src")
    monkeypatch.setenv("RAGOPS_DATABASE_URL", "postgresql+asyncpg://prod/ragops")
    assert release.head_revision() == "clean clean"
    assert release.known_revisions() == {"clean"}
