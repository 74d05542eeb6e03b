"""`ragops keys`, `ragops audit-log` and `--tenant`, run as real processes on embedded
defaults: a key is printed once and stored hashed, rotation keeps the old key for the
overlap, revocation is immediate, every change is in the audit log, and each tenant's
documents are its own."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ragops.auth import service
from ragops.db import Database
from ragops.db.base import utcnow
from tests.conftest import BACKENDS, backend_settings, make_settings, run_cli, run_sync
from tests.e2e.conftest import POOL_DOC


def _check(data_dir: Path, key: str) -> str:
    """How the key service judges `key` now: "ok" or the reason it fails."""

    async def work() -> str:
        db = Database(make_settings(data_dir))
        try:
            await service.authenticate(db=db, key=key)
            return "ok"
        except service.AuthenticationFailed as exc:
            return exc.reason
        finally:
            await db.dispose()

    return run_sync(work())


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys") / "var"


def test_keys_create_list_rotate_revoke(data_dir: Path) -> None:
    created = json.loads(
        run_cli(
            data_dir,
            "keys",
            "create",
            "--tenant",
            "acme",
            "--scopes",
            "chat,ingest",
            "--expires",
            "90d",
            "--name",
            "ci",
            "--json",
        ).stdout
    )
    key, key_id = created["key"], created["api_key"]["id"]
    assert created["api_key"]["scopes"] == ["chat", "ingest"]
    expires = datetime.fromisoformat(created["api_key"]["expires_at"])
    assert expires - utcnow() > timedelta(days=89)
    assert _check(data_dir, key) == "ok"

    plain = run_cli(data_dir, "keys", "create", "--scopes", "admin").stdout
    assert "shown only this once" in plain and plain.strip().splitlines()[-1].startswith("rgo_")

    listing = run_cli(data_dir, "keys", "list", "--tenant", "acme", "--json").stdout
    assert key not in listing
    assert [(k["id"], k["prefix"]) for k in json.loads(listing)] == [(key_id, key[:12])]

    rotated = json.loads(run_cli(data_dir, "keys", "rotate", key_id, "--json").stdout)
    new_key, new_id = rotated["key"], rotated["api_key"]["id"]
    assert rotated["previous"]["replaced_by"] == new_id
    assert _check(data_dir, key) == _check(data_dir, new_key) == "ok"  # the overlap

    assert f"revoked {new_id}" in run_cli(data_dir, "keys", "revoke", new_id).stdout
    assert _check(data_dir, new_key) == "revoked"
    missing = run_cli(data_dir, "keys", "revoke", "no-such-key", check=False)
    assert missing.returncode == 1 and "not found" in missing.stderr
    bad = run_cli(data_dir, "keys", "create", "--scopes", "root", check=False)
    assert bad.returncode == 2 and "unknown scope" in bad.stderr

    log = run_cli(data_dir, "audit-log", "--since", "1h", "--tenant", "acme", "--json").stdout
    events = [json.loads(line) for line in log.splitlines()]
    assert [(e["action"], e["target"]) for e in events] == [
        ("key.create", key_id),
        ("key.rotate", key_id),
        ("key.revoke", new_id),
    ]
    assert all(e["detail"]["interface"] == "cli" for e in events)
    assert key not in log and new_key not in log


def test_tenant_option_keeps_each_tenants_documents_apart(data_dir: Path, tmp_path: Path) -> None:
    doc = tmp_path / "pool.md"
    doc.write_bytes(POOL_DOC)
    assert "created" in run_cli(data_dir, "ingest", str(doc), "--tenant", "acme").stdout
    acme = json.loads(run_cli(data_dir, "documents", "list", "--tenant", "acme", "--json").stdout)
    mine = json.loads(run_cli(data_dir, "documents", "list", "--json").stdout)
    assert [i["source"] for i in acme["items"]] == ["pool.md"] and mine["items"] == []
    deleted = run_cli(data_dir, "documents", "delete", acme["items"][0]["id"], check=False)
    assert deleted.returncode == 1 and "not found" in deleted.stderr  # not the default tenant's
    bad = run_cli(data_dir, "collections", "--tenant", "no spaces", check=False)
    assert bad.returncode == 2 and "tenant ids" in bad.stderr
    # a '/' would make the backup manifest's `tenant/collection` keys ambiguous
    for args in (("keys", "create", "--scopes", "chat"), ("ingest", str(doc))):
        slash = run_cli(data_dir, *args, "--tenant", "acme/ops", check=False)
        assert slash.returncode == 2 and "tenant ids" in slash.stderr
    assert "acme/ops" not in run_cli(data_dir, "keys", "list", "--json").stdout
    log = run_cli(data_dir, "audit-log", "--action", "documents.ingest", "--json").stdout
    [event] = [json.loads(line) for line in log.splitlines()]
    assert event["tenant_id"] == "acme" and event["detail"]["interface"] == "cli"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_command_s_audit_event_is_stored_not_printed(backend: str, tmp_path: Path) -> None:
    """At the default log level (INFO) a command's own audit event is not a log line on its
    stderr, only an `audit_events` row; a lower level (DEBUG) still shows it."""
    with backend_settings(backend, tmp_path / "var") as settings:
        env = {"RAGOPS_LOG_LEVEL": "INFO"}
        if settings.database_url:
            env["RAGOPS_DATABASE_URL"] = settings.database_url
        run_cli(settings.data_dir, "keys", "list", env=env)  # migrates: that is worth a line
        created = run_cli(
            settings.data_dir,
            "keys",
            "create",
            "--name",
            "ci",
            "--scopes",
            "chat",
            "--json",
            env=env,
        )
        assert created.stderr == "", created.stderr
        key_id = json.loads(created.stdout)["api_key"]["id"]
        listed = run_cli(settings.data_dir, "audit-log", "--json", env=env).stdout
        events = [json.loads(line) for line in listed.splitlines()]
        assert [(e["action"], e["target"]) for e in events] == [("key.create", key_id)]
        debug = run_cli(
            settings.data_dir, "keys", "revoke", key_id, env={**env, "RAGOPS_LOG_LEVEL": "DEBUG"}
        )
        assert "audit_event" in debug.stderr and "action=key.revoke" in debug.stderr


def test_a_key_name_too_long_is_refused_not_cut(tmp_path: Path) -> None:
    """The API refuses a name over 128 characters (422); the CLI refused nothing and stored
    the first 128. Now it says so, exits non-zero and creates no key."""
    data_dir = tmp_path / "var"
    long = run_cli(data_dir, "keys", "create", "--scopes", "chat", "--name", "n" * 129, check=False)
    assert long.returncode != 0
    assert "at most 128 characters" in long.stderr, long.stderr
    assert "rgo_" not in long.stdout
    assert json.loads(run_cli(data_dir, "keys", "list", "--json").stdout) == []
    fits = run_cli(data_dir, "keys", "create", "--scopes", "chat", "--name", "n" * 128, "--json")
    assert json.loads(fits.stdout)["api_key"]["name"] == "n" * 128
