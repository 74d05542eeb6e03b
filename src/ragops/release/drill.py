"""The rollback drill (operations plan, Task 4.3: practise rollbacks, time them, prove zero data
loss): build the newer and the older release from git, run the newer on a scratch database,
write sessions, documents and feedback, stop it, start the older one (downgrading the schema
only when the older release does not know the database's revision, or, with `keep_schema`,
running it on the newer schema with its start-up migration off), check that every record
written is still there and that the service answers, write more records on the older one (what
users do while the rollback lasts), then roll forward to the newer one and check both sets.
Every step is timed; the record goes to `var/drills/rollback-<UTC time>.json`.

Records are checked through the API of whichever release runs: every document by id in the
document list, every session by id with its messages; feedback and audit events, which the
API does not show in full, are read from the database. After the roll forward the audit
trail's hash chain must verify (`ragops audit-log verify` of the newer release).
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from ragops.child_env import child_env
from ragops.release.builds import (
    Build,
    BuildError,
    Served,
    build,
    previous_release,
    repo_root,
    resolve,
    run,
    serve,
)

DOCS = [
    ("rollback.md", "# Rollback\n\nRedeploy the previous image tag to roll back a release.\n"),
    ("pool.md", "# Pool\n\nRestart the connection pool when connections leak.\n"),
    ("backups.md", "# Backups\n\nNightly backups are kept for fourteen days.\n"),
]
QUESTIONS = [
    "How do I roll back a release?",
    "What do I do when connections leak?",
    "How long are nightly backups kept?",
]


@dataclass
class Written:
    """What the drill wrote through the newer release."""

    documents: list[str] = field(default_factory=list)
    sessions: dict[str, list[str]] = field(default_factory=dict)  # session -> message ids
    feedback: dict[str, str] = field(default_factory=dict)  # message id -> rating
    collection: str = "drill"

    def counts(self) -> dict[str, int]:
        """How many records of each kind."""
        return {
            "documents": len(self.documents),
            "sessions": len(self.sessions),
            "messages": sum(len(m) for m in self.sessions.values()),
            "feedback": len(self.feedback),
        }


@dataclass
class RollbackRecord:
    """What a rollback drill did and measured (written as JSON)."""

    kind: str
    started_at: str
    newer: dict[str, Any]
    older: dict[str, Any]
    database: str
    downgraded: bool
    older_on_newer_schema: bool
    steps: dict[str, float]
    records: dict[str, int]
    records_written_on_older: dict[str, int]
    missing_after_rollback: list[str]
    missing_after_roll_forward: list[str]
    answers_after_rollback: bool
    answers_after_roll_forward: bool
    audit_chain_after_roll_forward: dict[str, Any]

    @property
    def passed(self) -> bool:
        """Nothing missing either way, the service answered both times and the audit chain
        verifies after the roll forward."""
        return (
            not self.missing_after_rollback
            and not self.missing_after_roll_forward
            and self.answers_after_rollback
            and self.answers_after_roll_forward
            and bool(self.audit_chain_after_roll_forward.get("intact"))
        )


class Timer:
    """Named step timings, in order."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self.steps: dict[str, float] = {}
        self.echo = echo

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time one step and print it when done."""
        began = time.perf_counter()
        yield
        self.steps[name] = round(time.perf_counter() - began, 3)
        self.echo(f"{name}: {self.steps[name]:.1f} s")


def write_records(client: httpx.Client, collection: str = "drill") -> Written:
    """Documents, sessions (a question and a follow-up each) and feedback, through the API,
    in `collection`."""
    written = Written(collection=collection)
    files = [("files", (name, body.encode())) for name, body in DOCS]
    response = client.post("/v1/documents", files=files, data={"collection": collection})
    response.raise_for_status()
    for item in response.json()["results"]:
        written.documents.append(item["document"]["id"])
    for number, question in enumerate(QUESTIONS):
        first = client.post("/v1/chat", json={"question": question, "collection": collection})
        first.raise_for_status()
        session = first.json()["session_id"]
        follow = client.post(
            "/v1/chat",
            json={"question": "And why?", "collection": collection, "session_id": session},
        )
        follow.raise_for_status()
        messages = [first.json()["message_id"], follow.json()["message_id"]]
        written.sessions[session] = messages
        rating = "up" if number % 2 == 0 else "down"
        client.post(f"/v1/messages/{messages[0]}/feedback", json={"rating": rating})
        written.feedback[messages[0]] = rating
    return written


def missing_records(client: httpx.Client, written: Written) -> list[str]:
    """Every written record the running release cannot show (empty when none is lost)."""
    missing: list[str] = []
    listing = client.get("/v1/documents", params={"collection": written.collection, "limit": 500})
    found = {item["id"] for item in listing.json().get("items", [])}
    missing += [f"document {d}" for d in written.documents if d not in found]
    for session, messages in written.sessions.items():
        response = client.get(f"/v1/sessions/{session}")
        if response.status_code != 200:
            missing.append(f"session {session}")
            continue
        shown = json.dumps(response.json())
        missing += [f"message {m}" for m in messages if m not in shown]
    return missing


def _read_pairs(database_url: str, query: str) -> dict[str, str]:
    """The two columns of `query`'s rows as a mapping, read directly from the database."""
    import asyncio

    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def read() -> dict[str, str]:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(text(query))
                return {str(a): str(b) for a, b in rows}
        finally:
            await engine.dispose()

    return asyncio.run(read())


def missing_feedback(database_url: str, written: Written) -> list[str]:
    """Feedback verdicts not in the database as written (read directly: the API shows none)."""
    found = _read_pairs(database_url, "SELECT message_id, rating FROM feedback")
    return [f"feedback on {m}" for m, rating in written.feedback.items() if found.get(m) != rating]


def audit_events(database_url: str) -> dict[str, str]:
    """Every audit event in the database: id -> action."""
    return _read_pairs(database_url, "SELECT id, action FROM audit_events")


def missing_audit_events(database_url: str, expected: dict[str, str]) -> list[str]:
    """Audit events of `expected` (id -> action) no longer in the database as they were."""
    found = audit_events(database_url)
    return [f"audit event {i} ({a})" for i, a in expected.items() if found.get(i) != a]


def run_release(release: Build, args: list[str], env: dict[str, str], workdir: Path) -> str:
    """Run `ragops ARGS` of `release` as the drill does: in `env` only (`drill_env`) and from
    `workdir`, so neither the operator's environment nor a `.env` file of the directory the
    drill was started in reaches it (a production database URL there would otherwise be
    migrated and downgraded)."""
    return run([release.ragops, *args], env=env, cwd=workdir)


def audit_chain(release: Build, env: dict[str, str], workdir: Path) -> dict[str, Any]:
    """What the release's `ragops audit-log verify --json` says (intact false when it fails)."""
    try:
        out = run_release(release, ["audit-log", "verify", "--json"], env, workdir)
    except BuildError as exc:
        return {"intact": False, "problems": [str(exc)]}
    return dict(json.loads(out.strip().splitlines()[-1]))


def answers(client: httpx.Client) -> bool:
    """Whether the service answers a question with a citation."""
    response = client.post("/v1/chat", json={"question": QUESTIONS[0], "collection": "drill"})
    return response.status_code == 200 and bool(response.json().get("citations"))


def _client(served: Served, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=served.url, timeout=120, headers={"Authorization": f"Bearer {key}"}
    )


def _make_key(release: Build, env: dict[str, str], workdir: Path) -> str:
    out = run_release(
        release,
        [
            "keys",
            "create",
            "--tenant",
            "default",
            "--scopes",
            "chat,ingest,admin",
            "--name",
            "rollback drill",
            "--json",
        ],
        env,
        workdir,
    )
    return str(json.loads(out)["key"])


def _db_revision(release: Build, env: dict[str, str], workdir: Path) -> str:
    out = run_release(release, ["db", "current"], env, workdir)
    return out.split("current:")[1].split("·")[0].strip()


def drill_env(scratch: Path, settings: dict[str, str]) -> dict[str, str]:
    """The environment of every command and server of the drill: `PATH` and the other basics
    of this process's environment (`child_env`), the drill's scratch settings, then `settings`
    (the database URLs given on the command line). Nothing else of the operator's environment:
    its `RAGOPS_*` settings (a production database, an LLM key) never reach the scratch
    releases."""
    return child_env(
        {
            "RAGOPS_DATA_DIR": str(scratch),
            "RAGOPS_DEMO_CORPUS": "false",
            "RAGOPS_LOG_LEVEL": "WARNING",
            "RAGOPS_BOOTSTRAP_API_KEY": "false",  # pragma: allowlist secret
            "RAGOPS_ANSWER_CACHE": "false",
            **settings,
        }
    )


def run_rollback_drill(
    *,
    newer_ref: str,
    older_ref: str | None,
    workdir: Path,
    env: dict[str, str],
    port: int,
    echo: Callable[[str], None],
    keep_schema: bool = False,
) -> RollbackRecord:
    """Run the drill in `workdir` (its scratch data removed afterwards, builds kept). With
    `keep_schema` the older release runs on the newer schema, its start-up migration off
    (`RAGOPS_AUTO_MIGRATE=false`), instead of downgrading: the expand/contract path."""
    repo = repo_root()
    older_ref = older_ref or previous_release(repo, newer_ref)
    for ref in (newer_ref, older_ref):
        resolve(repo, ref)  # an unknown ref stops here, before a release is built
    timer = Timer(echo)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    workdir.mkdir(parents=True, exist_ok=True)
    scratch = workdir / f"data-{uuid.uuid4().hex[:8]}"
    env = drill_env(scratch, env)
    log = workdir / "servers.log"
    database_url = env.get("RAGOPS_DATABASE_URL") or f"sqlite+aiosqlite:///{scratch / 'ragops.db'}"
    try:
        with timer.step(f"build newer ({newer_ref})"):
            newer = build(repo, newer_ref, workdir)
        with timer.step(f"build older ({older_ref})"):
            older = build(repo, older_ref, workdir)
        with timer.step("start newer"):
            run_release(newer, ["db", "upgrade"], env, workdir)
            key = _make_key(newer, env, workdir)
            served = serve(newer, env, port, log, cwd=workdir)
        try:
            with timer.step("write records"), _client(served, key) as client:
                written = write_records(client)
        finally:
            with timer.step("stop newer"):
                served.stop()
        audit_newer = audit_events(database_url)
        revision = _db_revision(newer, env, workdir)
        downgraded = revision not in older.known_revisions() and not keep_schema
        older_env = {**env, "RAGOPS_AUTO_MIGRATE": "false"} if keep_schema else env
        if downgraded:
            with timer.step("downgrade schema"):
                run_release(newer, ["db", "downgrade", older.head_revision()], env, workdir)
        audit_rolled_back = audit_events(database_url)  # with what a downgrade may add
        with timer.step("start older"):
            served = serve(older, older_env, port, log, cwd=workdir)
        try:
            with timer.step("check records on older"), _client(served, key) as client:
                lost_back = missing_records(client, written)
                lost_back += missing_feedback(database_url, written)
                lost_back += missing_audit_events(database_url, audit_newer)
                answered_back = answers(client)
            with timer.step("write records on older"), _client(served, key) as client:
                written_older = write_records(client, collection="drill-older")
        finally:
            with timer.step("stop older"):
                served.stop()
        audit_all = audit_events(database_url)
        with timer.step("roll forward: start newer"):
            served = serve(newer, env, port, log, cwd=workdir)
        try:
            with timer.step("check records on newer"), _client(served, key) as client:
                lost_forward: list[str] = []
                for each in (written, written_older):
                    lost_forward += missing_records(client, each)
                    lost_forward += missing_feedback(database_url, each)
                lost_forward += missing_audit_events(database_url, audit_all)
                answered_forward = answers(client)
        finally:
            served.stop()
        chain = audit_chain(newer, env, workdir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return RollbackRecord(
        kind="rollback",
        started_at=started_at,
        newer={
            "ref": newer_ref,
            "commit": newer.commit,
            "schema": revision,
            "shared_dependencies": newer.shared_dependencies,
            "build_reused": newer.reused,
        },
        older={
            "ref": older_ref,
            "commit": older.commit,
            "schema": older.head_revision(),
            "shared_dependencies": older.shared_dependencies,
            "build_reused": older.reused,
        },
        database=(
            "sqlite"
            if "RAGOPS_DATABASE_URL" not in env
            else "postgresql, owner and service roles"
            if "RAGOPS_MIGRATION_DATABASE_URL" in env
            else "postgresql"
        ),
        downgraded=downgraded,
        older_on_newer_schema=keep_schema,
        steps=timer.steps,
        records=written.counts() | {"audit_events": len(audit_newer)},
        records_written_on_older=written_older.counts()
        | {"audit_events": len(audit_all) - len(audit_rolled_back)},
        missing_after_rollback=lost_back,
        missing_after_roll_forward=lost_forward,
        answers_after_rollback=answered_back,
        answers_after_roll_forward=answered_forward,
        audit_chain_after_roll_forward=chain,
    )


def write_record(record: RollbackRecord, directory: Path) -> Path:
    """Write the drill's JSON record under `directory`; its path."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"rollback-{stamp}.json"
    path.write_text(json.dumps(asdict(record) | {"passed": record.passed}, indent=2) + "\n")
    return path
