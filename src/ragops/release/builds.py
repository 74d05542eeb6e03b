"""A release built from git in a scratch virtual environment, and its server as a process.

`build(ref)` exports the tree of `ref` (`git archive`), makes a virtual environment and installs
the release into it without build isolation. Its dependencies: when every pin of the release's
`requirements.lock` is installed in this environment at that version, the new environment
reuses this one's packages (a `.pth` line: the same pinned versions, seconds instead of
minutes); otherwise they are installed from the release's own lock (`--require-hashes`), as
`make setup` does. A finished build leaves a marker in its environment; a later drill of the
same commit reuses it (a commit's tree never changes) unless it shared this environment's
packages and no longer can.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess  # nosec B404 - git, python and the release's own `ragops`, no shell
import sys
import sysconfig
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from ragops.child_env import child_env
from ragops.db.migrate import MIGRATIONS_DIR


class BuildError(Exception):
    """A release could not be built or started (the message says why)."""


def run(
    args: list[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 900,
) -> str:
    """Run a command; its stdout, or `BuildError` with the end of its output."""
    done = subprocess.run(  # nosec B603 - argument lists built here
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise BuildError(f"{Path(args[0]).name} {' '.join(args[1:3])} failed: {' '.join(tail)}")
    return done.stdout


def repo_root(start: Path | None = None) -> Path:
    """The git checkout holding the source tree."""
    base = start or MIGRATIONS_DIR
    return Path(run(["git", "-C", str(base), "rev-parse", "--show-toplevel"]).strip())


def resolve(repo: Path, ref: str) -> str:
    """The full commit id of `ref`; `BuildError` naming the ref when the checkout lacks it."""
    try:
        return run(
            ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"]
        ).strip()
    except BuildError:
        raise BuildError(
            f"unknown git ref {ref!r}: not a commit of this checkout (fetch it, or name the "
            "release by its commit id)"
        ) from None


def previous_release(repo: Path, before: str) -> str:
    """The newest `vX.Y.Z` tag that is an ancestor of `before` (not `before` itself), else
    `before`'s parent."""
    try:
        tag = run(
            [
                "git",
                "-C",
                str(repo),
                "describe",
                "--tags",
                "--abbrev=0",
                "--match",
                "v[0-9]*",
                f"{before}^",
            ]
        ).strip()
        return tag
    except BuildError:
        return f"{before}^"


@dataclass
class Build:
    """A release installed in its own virtual environment."""

    ref: str
    commit: str
    root: Path
    venv: Path
    shared_dependencies: bool
    reused: bool = False  # a finished build of the same commit, from an earlier drill

    @property
    def ragops(self) -> str:
        """The release's `ragops` command."""
        return str(self.venv / "bin" / "ragops")

    def head_revision(self) -> str:
        """The newest migration this release ships."""
        code = "from ragops.db.migrate import head_revision; print(head_revision())"
        return run([str(self.venv / "bin" / "python"), "-c", code], env=child_env()).strip()

    def known_revisions(self) -> set[str]:
        """Every migration revision this release ships."""
        code = (
            "from alembic.script import ScriptDirectory\n"
            "from ragops.db.migrate import alembic_config\n"
            "s = ScriptDirectory.from_config(alembic_config('sqlite://'))\n"
            "print(' '.join(r.revision for r in s.walk_revisions()))"
        )
        # child_env: no PYTHONPATH of the operator's shell makes it import another ragops
        return set(run([str(self.venv / "bin" / "python"), "-c", code], env=child_env()).split())


def pins(lock: Path) -> dict[str, str]:
    """`name -> version` of every `name==version` line of a lock file."""
    found: dict[str, str] = {}
    if lock.exists():
        for line in lock.read_text(encoding="utf-8").splitlines():
            match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", line)
            if match:
                found[_normal(match.group(1))] = match.group(2)
    return found


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_here() -> dict[str, str]:
    """`name -> version` of every distribution installed in this environment."""
    from importlib.metadata import distributions

    return {_normal(d.metadata["Name"]): d.version for d in distributions()}


def can_share(lock: Path) -> bool:
    """Whether every pin of `lock` is installed here at that version."""
    wanted = pins(lock)
    here = installed_here()
    return bool(wanted) and all(here.get(name) == version for name, version in wanted.items())


BUILT = "ragops-drill-build"
"""The marker file a finished build leaves in its environment: `shared` or `own`."""


def build(repo: Path, ref: str, workdir: Path) -> Build:
    """Export `ref` and install it into a new virtual environment under `workdir` (or reuse
    the finished build of the same commit there)."""
    commit = resolve(repo, ref)
    root = workdir / f"src-{commit[:12]}"
    venv = workdir / f"venv-{commit[:12]}"
    marker = venv / BUILT
    if marker.exists():
        kind = marker.read_text(encoding="utf-8").strip()
        if kind == "own" or (kind == "shared" and can_share(root / "requirements.lock")):
            return Build(
                ref=ref,
                commit=commit,
                root=root,
                venv=venv,
                shared_dependencies=kind == "shared",
                reused=True,
            )
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(venv, ignore_errors=True)
    root.mkdir(parents=True)
    archive = workdir / f"{commit[:12]}.tar"
    run(["git", "-C", str(repo), "archive", "--format=tar", f"--output={archive}", commit])
    with tarfile.open(archive) as tar:
        tar.extractall(root, filter="data")
    archive.unlink()
    run([sys.executable, "-m", "venv", str(venv)])
    python = str(venv / "bin" / "python")
    shared = can_share(root / "requirements.lock")
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if shared:
        site = Path(
            run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).strip()
        )
        (site / "ragops-shared-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    else:
        run(
            [*pip, "--require-hashes", "--no-deps", "-r", str(root / "requirements.lock")],
            timeout=1800,
        )
    run([*pip, "--no-deps", "--no-build-isolation", str(root)], timeout=900)
    marker.write_text("shared\n" if shared else "own\n", encoding="utf-8")
    return Build(ref=ref, commit=commit, root=root, venv=venv, shared_dependencies=shared)


@dataclass
class Served:
    """A release's `ragops serve` process."""

    build: Build
    url: str
    process: subprocess.Popen[bytes]

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM, then wait (SIGKILL after `timeout`)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def serve(
    build: Build,
    env: dict[str, str],
    port: int,
    log: Path,
    wait: float = 180,
    cwd: Path | None = None,
) -> Served:
    """Start the release's server in the environment `env` (and nothing else of this process's),
    from `cwd`, and wait until `/readyz` answers 200."""
    out = log.open("ab")
    process = subprocess.Popen(  # nosec B603 - the release's own command
        [build.ragops, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=cwd,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + wait
    while True:
        if process.poll() is not None:
            raise BuildError(
                f"ragops {build.ref} exited at start (exit {process.returncode}); see {log}"
            )
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return Served(build=build, url=url, process=process)
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise BuildError(f"ragops {build.ref} was not ready within {wait:.0f} s; see {log}")
        time.sleep(0.3)
