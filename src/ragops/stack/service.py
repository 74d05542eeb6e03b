"""Start, inspect, restart and stop a local stack (see `stack.config` for what it is made of).

`up` migrates the shared database once, starts supervisord (which starts nginx and the
instances) with a clean environment, and returns when nginx answers and every instance's
`/readyz` is 200. `down` asks supervisord to stop everything (each instance drains on
SIGTERM) and waits for it to exit. `restart` restarts instances one at a time, each back and
ready (and seen by nginx again) before the next stops: a rolling restart. `signal` sends a
signal to one instance's process, as a drill or a test does.
"""

from __future__ import annotations

import asyncio
import os
import signal as signals
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from ragops.child_env import child_env
from ragops.stack.config import FAIL_TIMEOUT_SECONDS, StackPlan, instance_env, load_plan


class StackError(RuntimeError):
    """A stack operation failed (message says which part and where its log is)."""


async def _check_vector_extension(url: str) -> None:
    """`StackError` unless the server of the pgvector store has the `vector` extension: every
    instance would otherwise stop at start, restarted by supervisord until `up` gives up."""
    import asyncpg

    from ragops.providers.vectorstore.pgvector_sql import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=30)
    try:
        found = await conn.fetchval(
            "select count(*) from pg_available_extensions where name = 'vector'"
        )
    finally:
        await conn.close()
    if not found:
        raise StackError(
            "the pgvector store needs PostgreSQL's vector extension, which the server of "
            "RAGOPS_PGVECTOR_URL (else RAGOPS_DATABASE_URL) does not have: install pgvector "
            "there, or use a Qdrant server (RAGOPS_QDRANT_URL)"
        )


@dataclass(frozen=True)
class InstanceStatus:
    """One instance as supervisord and its own `/readyz` see it."""

    name: str
    url: str
    state: str
    pid: int | None
    ready: bool


def _ready(url: str, path: str = "/readyz") -> bool:
    try:
        return httpx.get(url + path, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


class Stack:
    """Operations on the stack whose files are in `plan.run_dir`."""

    def __init__(self, plan: StackPlan) -> None:
        self.plan = plan

    @classmethod
    def open(cls, run_dir: Path) -> Stack:
        return cls(load_plan(run_dir))

    @property
    def url(self) -> str:
        return self.plan.url

    # --- supervisord ---------------------------------------------------------------------

    def ctl(self, *args: str, timeout: float = 120, check: bool = True) -> str:
        """Run `supervisorctl` on this stack; its output."""
        result = subprocess.run(
            [self.plan.supervisorctl, "-c", str(self.plan.conf), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        # supervisorctl exits non-zero for a stopped program in `status`; callers check text
        if check and result.returncode not in (0, 3):
            raise StackError(f"supervisorctl {' '.join(args)}: {result.stdout}{result.stderr}")
        return result.stdout

    def supervisord_pid(self) -> int | None:
        try:
            pid = int((self.plan.run_dir / "supervisord.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def _program(self, index: int) -> str:
        return f"ragops:{self.plan.names[index]}"

    def pid(self, index: int) -> int | None:
        """The process id of instance `index`, None while it is not running."""
        out = self.ctl("pid", self._program(index), check=False).strip()
        return int(out) if out.isdigit() and int(out) > 0 else None

    # --- lifecycle -----------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the shared database to the newest schema, once for the whole stack."""
        from ragops.config import Settings
        from ragops.db import migrate

        env = instance_env(self.plan, 0)
        settings = Settings(
            _env_file=None,
            database_url=env["RAGOPS_DATABASE_URL"],
            data_dir=Path(env["RAGOPS_DATA_DIR"]),
        )
        asyncio.run(migrate.upgrade(settings))
        store = Settings(
            _env_file=None,
            database_url=env["RAGOPS_DATABASE_URL"],
            data_dir=Path(env["RAGOPS_DATA_DIR"]),
            vector_store=env.get("RAGOPS_VECTOR_STORE") or "auto",
            pgvector_url=env.get("RAGOPS_PGVECTOR_URL") or None,
            qdrant_url=env.get("RAGOPS_QDRANT_URL") or None,
        )
        url = store.resolved_pgvector_url
        if store.resolved_vector_store == "pgvector" and url is not None:
            asyncio.run(_check_vector_extension(url))

    def up(self, timeout: float = 180, say: Callable[[str], None] = lambda _: None) -> None:
        """Migrate, start supervisord, wait until nginx and every instance are ready."""
        if self.supervisord_pid() is not None:
            raise StackError(f"a stack already runs in {self.plan.run_dir}; `down` it first")
        say("migrating the shared database")
        self.migrate()
        env = child_env()
        say(f"starting supervisord with nginx and {len(self.plan.names)} instances")
        result = subprocess.run(
            [self.plan.supervisord, "-c", str(self.plan.conf)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(f"supervisord did not start: {result.stdout}{result.stderr}")
        try:
            self.wait_ready(timeout)
        except StackError:
            self.down()
            raise

    def wait_ready(self, timeout: float = 180, indexes: list[int] | None = None) -> None:
        """Wait until nginx answers and the instances (all, or `indexes`) are ready."""
        deadline = time.monotonic() + timeout
        wanted = list(range(len(self.plan.names))) if indexes is None else indexes
        pending = [self.plan.instance_url(i) for i in wanted]
        nginx_up = False
        while time.monotonic() < deadline:
            nginx_up = nginx_up or _ready(self.url, "/nginx-health")
            pending = [url for url in pending if not _ready(url)]
            if nginx_up and not pending:
                return
            time.sleep(0.2)
        logs = self.plan.run_dir / "logs"
        what = ", ".join(pending) if pending else "nginx"
        raise StackError(f"not ready within {timeout:.0f} s: {what} (logs in {logs})")

    def down(self, timeout: float | None = None) -> None:
        """Stop every program (instances drain on SIGTERM), then supervisord itself."""
        pid = self.supervisord_pid()
        if pid is None:
            return
        wait = timeout if timeout is not None else self.plan.stop_wait + 20
        self.ctl("shutdown", timeout=wait, check=False)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        os.kill(pid, signals.SIGKILL)

    def restart(
        self, indexes: list[int] | None = None, say: Callable[[str], None] = lambda _: None
    ) -> None:
        """Rolling restart: one instance at a time, each ready and back in nginx's rotation
        (its passive failure mark expired) before the next one stops."""
        if self.supervisord_pid() is None:
            raise StackError(f"no stack runs in {self.plan.run_dir}: `ragops stack up` it first")
        for index in range(len(self.plan.names)) if indexes is None else indexes:
            say(f"restarting {self.plan.names[index]}")
            self.ctl("stop", self._program(index), timeout=self.plan.stop_wait + 20)
            self.ctl("start", self._program(index), timeout=60)
            self.wait_ready(indexes=[index])
            time.sleep(FAIL_TIMEOUT_SECONDS + 0.5)

    def signal(self, index: int, sig: int) -> int:
        """Send `sig` to instance `index`; the pid it went to."""
        pid = self.pid(index)
        if pid is None:
            raise StackError(f"{self.plan.names[index]} is not running")
        os.kill(pid, sig)
        return pid

    def status(self) -> list[InstanceStatus]:
        """Each instance's supervisord state, pid and readiness."""
        out = self.ctl("status", check=False) if self.supervisord_pid() else ""
        states = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 2:
                states[parts[0]] = parts[1]
        rows = []
        for index, name in enumerate(self.plan.names):
            state = states.get(f"ragops:{name}", "STOPPED" if out else "DOWN")
            url = self.plan.instance_url(index)
            pid = self.pid(index) if state == "RUNNING" else None
            rows.append(InstanceStatus(name, url, state, pid, state == "RUNNING" and _ready(url)))
        return rows
