"""The plan of a local stack and the files it is run from: N ragops instances under
supervisord behind nginx, all configured inside one run directory.

`make_plan(...)` picks free loopback ports (nginx and each instance) and decides every
instance's settings; `write_files(plan)` renders the templates of `deploy/local/`
(`nginx.conf.in`, `supervisord.conf.in`, `program.conf.in`) into the run directory and
writes each instance's settings to `instance-<n>/.env` (mode 0600, so a database password
is on no command line and in no shared file), and `stack.json` (the plan, without secrets).

Settings every instance shares are taken from the caller's `RAGOPS_*` environment plus
explicit overrides; the stack then fixes what several instances need: a shared vector store
(pgvector, in the database unless `RAGOPS_PGVECTOR_URL` names another), migrations run once by
`ragops stack up` (not by each instance), nginx's address is a trusted proxy, a shared
incident-link secret, and draining that answers 503 to new requests so that nginx, which
only checks passively, moves traffic away before the instance stops listening.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[3] / "deploy" / "local"
STATE_FILE = "stack.json"
FAIL_TIMEOUT_SECONDS = 2
DRAIN_SECONDS = 1.0
SHUTDOWN_SECONDS = 30
READ_TIMEOUT_SECONDS = 120

STACK_DEFAULTS = {
    "RAGOPS_DEMO_CORPUS": "false",
    "RAGOPS_BOOTSTRAP_API_KEY": "false",  # pragma: allowlist secret
    "RAGOPS_DRAIN_SECONDS": str(DRAIN_SECONDS),
    "RAGOPS_DRAIN_REFUSE_NEW": "true",
    "RAGOPS_SHUTDOWN_TIMEOUT_SECONDS": str(SHUTDOWN_SECONDS),
}
"""Settings the stack chooses unless the caller sets them."""

PER_INSTANCE = ("RAGOPS_HOST", "RAGOPS_PORT", "RAGOPS_DATA_DIR")


class StackConfigError(ValueError):
    """The stack cannot be configured as asked (message says why and what to do)."""


@dataclass
class StackPlan:
    """Where everything of one stack lives and listens."""

    run_dir: Path
    port: int
    instance_ports: list[int]
    nginx: str
    supervisord: str
    supervisorctl: str
    ragops: str
    shared_env: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def url(self) -> str:
        """The load balancer's URL: what clients use."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def names(self) -> list[str]:
        return [instance_name(i) for i in range(len(self.instance_ports))]

    def instance_url(self, index: int) -> str:
        """One instance's own URL (bypassing nginx)."""
        return f"http://127.0.0.1:{self.instance_ports[index]}"

    def instance_dir(self, index: int) -> Path:
        return self.run_dir / instance_name(index)

    @property
    def conf(self) -> Path:
        return self.run_dir / "supervisord.conf"

    @property
    def stop_wait(self) -> int:
        """Seconds supervisord waits for an instance to stop before SIGKILL."""
        drain = float(self.shared_env.get("RAGOPS_DRAIN_SECONDS", DRAIN_SECONDS))
        grace = int(self.shared_env.get("RAGOPS_SHUTDOWN_TIMEOUT_SECONDS", SHUTDOWN_SECONDS))
        return int(drain) + grace + 10


def instance_name(index: int) -> str:
    return f"instance-{index}"


def free_port() -> int:
    """A port free on loopback now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_tool(name: str) -> str:
    """The path of `name` on PATH or in the sbin folders Debian puts daemons in."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")
    if found is None:
        raise StackConfigError(
            f"{name} is not installed: run scripts/install-stack-tools.sh "
            "(installs the Debian packages supervisor and nginx)"
        )
    return found


def shared_settings(environ: dict[str, str], overrides: dict[str, str]) -> dict[str, str]:
    """The settings every instance gets: the caller's RAGOPS_* plus overrides and the
    stack's own choices; refuses what several instances cannot share."""
    env = {k: v for k, v in environ.items() if k.startswith("RAGOPS_") and k not in PER_INSTANCE}
    env.update({k: v for k, v in overrides.items() if k not in PER_INSTANCE})
    for key, value in STACK_DEFAULTS.items():
        env.setdefault(key, value)
    database = env.get("RAGOPS_DATABASE_URL", "")
    if not database.startswith("postgresql"):
        raise StackConfigError(
            "several instances share one PostgreSQL database: set RAGOPS_DATABASE_URL "
            "(postgresql+asyncpg://user@host/db)"
        )
    if not env.get("RAGOPS_REDIS_URL"):
        raise StackConfigError(
            "several instances share rate limits and caches through Redis: set RAGOPS_REDIS_URL"
        )
    stores = ("RAGOPS_VECTOR_STORE", "RAGOPS_PGVECTOR_URL", "RAGOPS_QDRANT_URL")
    if not any(env.get(name) for name in stores):
        env["RAGOPS_VECTOR_STORE"] = "pgvector"  # the embedded store is one process's only
    if env.get("RAGOPS_VECTOR_STORE") == "edge":
        raise StackConfigError(
            "the embedded vector store serves one process: several instances need a shared "
            "one (RAGOPS_VECTOR_STORE=pgvector, or RAGOPS_QDRANT_URL)"
        )
    env["RAGOPS_AUTO_MIGRATE"] = "false"  # `ragops stack up` migrates once, before starting
    env["RAGOPS_TRUSTED_PROXIES"] = '["127.0.0.1"]'
    env.setdefault("RAGOPS_INCIDENT_LINK_SECRET", secrets.token_urlsafe(32))
    return env


def make_plan(
    run_dir: Path,
    instances: int,
    *,
    environ: dict[str, str] | None = None,
    overrides: dict[str, str] | None = None,
    port: int | None = None,
) -> StackPlan:
    """Ports, tools and settings of a new stack of `instances` instances."""
    if instances < 1:
        raise StackConfigError("--instances must be at least 1")
    env = shared_settings(dict(os.environ if environ is None else environ), overrides or {})
    plan = StackPlan(
        run_dir=run_dir.resolve(),
        port=port or free_port(),
        instance_ports=[free_port() for _ in range(instances)],
        nginx=find_tool("nginx"),
        supervisord=find_tool("supervisord"),
        supervisorctl=find_tool("supervisorctl"),
        ragops=str(Path(sys.executable).with_name("ragops")),
        shared_env=env,
    )
    plan.shared_env.setdefault("RAGOPS_PUBLIC_BASE_URL", plan.url)
    return plan


def _render(template: str, **values: object) -> str:
    path = TEMPLATES / template
    if not path.is_file():
        raise StackConfigError(f"template {path} is missing (run from a ragops checkout)")

    def fill(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            raise StackConfigError(f"{path}: no value for {{{{{match.group(1)}}}}}")
        return str(values[match.group(1)])

    return re.sub(r"\{\{([a-z_]+)\}\}", fill, path.read_text(encoding="utf-8"))


def _dotenv_line(key: str, value: str) -> str:
    if "'" in value or "\n" in value:
        raise StackConfigError(f"{key}: a value with a quote or a line break is not supported")
    return f"{key}='{value}'\n"


def instance_env(plan: StackPlan, index: int) -> dict[str, str]:
    """Everything instance `index` is configured with."""
    return {
        **plan.shared_env,
        "RAGOPS_HOST": "127.0.0.1",
        "RAGOPS_PORT": str(plan.instance_ports[index]),
        "RAGOPS_DATA_DIR": str(plan.instance_dir(index) / "var"),
    }


def write_files(plan: StackPlan) -> None:
    """Render nginx's and supervisord's configurations and each instance's .env."""
    run = plan.run_dir
    for sub in ("logs", "nginx/body", "nginx/proxy", "nginx/fastcgi", "nginx/uwsgi", "nginx/scgi"):
        (run / sub).mkdir(parents=True, exist_ok=True)
    run.chmod(0o755)
    user_line = ""
    if os.geteuid() == 0:  # nginx's workers drop to this user; they write the temp folders
        user_line = "user nobody nogroup;"
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            shutil.chown(run / "nginx" / sub, "nobody", "nogroup")
    servers = "".join(
        f"        server 127.0.0.1:{p} max_fails=1 fail_timeout={FAIL_TIMEOUT_SECONDS}s;\n"
        for p in plan.instance_ports
    ).rstrip("\n")
    max_body = int(plan.shared_env.get("RAGOPS_MAX_REQUEST_BYTES", 25 * 1024 * 1024))
    count = len(plan.instance_ports)
    (run / "nginx.conf").write_text(
        _render(
            "nginx.conf.in",
            user_line=user_line,
            run_dir=run,
            max_body=max_body,
            servers=servers,
            port=plan.port,
            read_timeout=READ_TIMEOUT_SECONDS,
            tries=count + 1,
            retry_budget=READ_TIMEOUT_SECONDS,
        ),
        encoding="utf-8",
    )
    programs = []
    for index, name in enumerate(plan.names):
        directory = plan.instance_dir(index)
        (directory / "var").mkdir(parents=True, exist_ok=True)
        dotenv = directory / ".env"
        dotenv.touch(mode=0o600, exist_ok=True)
        dotenv.chmod(0o600)
        text = "".join(_dotenv_line(k, v) for k, v in sorted(instance_env(plan, index).items()))
        dotenv.write_text(text, encoding="utf-8")
        programs.append(
            _render(
                "program.conf.in",
                name=name,
                ragops=plan.ragops,
                port=plan.instance_ports[index],
                directory=directory,
                stop_wait=plan.stop_wait,
                run_dir=run,
            )
        )
    (run / "supervisord.conf").write_text(
        _render(
            "supervisord.conf.in",
            run_dir=run,
            programs="\n".join(programs),
            names=",".join(plan.names),
            nginx=plan.nginx,
            stop_wait=plan.stop_wait,
        ),
        encoding="utf-8",
    )
    public = {k: v for k, v in asdict(plan).items() if k != "shared_env"}
    public["run_dir"] = str(run)
    (run / STATE_FILE).write_text(json.dumps(public, indent=1) + "\n", encoding="utf-8")


def load_plan(run_dir: Path) -> StackPlan:
    """The plan of the stack written into `run_dir` (settings are read from instance 0)."""
    path = run_dir / STATE_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StackConfigError(f"no stack in {run_dir} ({path} unreadable)") from exc
    raw["run_dir"] = Path(raw["run_dir"])
    plan = StackPlan(**raw)
    env: dict[str, str] = {}
    dotenv = plan.instance_dir(0) / ".env"
    if dotenv.is_file():
        for line in dotenv.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            if key and key not in PER_INSTANCE:
                env[key] = value.strip("'")
    plan.shared_env = env
    return plan
