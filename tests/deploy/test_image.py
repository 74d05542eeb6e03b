"""The container image definition (deploy/Dockerfile) and its tags, checked without Docker:
non-root user, a health check on /healthz, the service as the default command, the
hash-pinned lock installed; scripts/image-tags.sh tags the version and main-<short commit>."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last:]


def test_runs_as_a_non_root_user() -> None:
    users = [rest for word, rest in final_stage() if word == "USER"]
    assert users, "the final stage sets no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert any("useradd" in rest and "10001" in rest for w, rest in final_stage() if w == "RUN")


def test_health_check_calls_healthz() -> None:
    (check,) = [rest for word, rest in final_stage() if word == "HEALTHCHECK"]
    assert "/healthz" in check and "--interval=" in check and "--timeout=" in check


def test_serves_by_default_and_installs_the_locked_dependencies() -> None:
    (cmd,) = [rest for word, rest in final_stage() if word == "CMD"]
    assert cmd == '["ragops", "serve"]'
    runs = " ".join(rest for word, rest in instructions() if word == "RUN")
    assert "--require-hashes" in runs and "requirements.lock" in runs
    env = " ".join(rest for word, rest in final_stage() if word == "ENV")
    assert "RAGOPS_HOST=0.0.0.0" in env and "RAGOPS_IMAGE_TAG=${IMAGE_TAG}" in env
    ignore = (ROOT / "deploy" / "Dockerfile.dockerignore").read_text()
    copies = [rest for word, rest in instructions() if word == "COPY" and "--from" not in rest]
    copied = {name for rest in copies for name in rest.split()[:-1]}
    for source in copied:
        assert f"!{source}" in ignore, f"{source} is copied but ignored by the build context"


def test_image_tags_are_the_version_and_the_commit() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    short = subprocess.run(
        ["git", "rev-parse", "--short=7", "HEAD"], cwd=ROOT, capture_output=True, text=True,
        check=True,
    ).stdout.strip()  # fmt: skip
    tags = subprocess.run(
        ["bash", "scripts/image-tags.sh"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tags[0] == f"ragops:{version}"
    assert re.fullmatch(rf"ragops:main-{short}(-dirty)?", tags[1]), tags
    args = subprocess.run(
        ["bash", "scripts/image-tags.sh", "--build-args"], cwd=ROOT, capture_output=True,
        text=True, check=True, env={"PATH": "/usr/bin:/bin", "IMAGE": "registry.test/ragops"},
    ).stdout  # fmt: skip
    assert f"-t registry.test/ragops:{version} -t registry.test/ragops:main-{short}" in args
    assert f"--build-arg VERSION={version}" in args and "--build-arg GIT_COMMIT=" in args
