"""The bootstrap key: the first start of `ragops serve` with no key at all creates an admin key
of tenant "default" and prints it once on the console; it works, and it is never created
again, nor in production."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ragops.auth.bootstrap import ensure_bootstrap_key
from ragops.auth.service import count_keys, list_keys
from ragops.db import Database, migrate
from tests.conftest import free_port, make_settings

RAGOPS = str(Path(sys.executable).with_name("ragops"))
KEY = re.compile(r"rgo_[A-Za-z0-9_-]{43}")


def _serve_until_ready(
    data_dir: Path, log: Path, *, stderr: Path | None = None, **env_vars: str
) -> tuple[subprocess.Popen[bytes], str]:
    """`ragops serve` on a free port; stdout and stderr into `log`, or stderr into `stderr`."""
    port = free_port()
    env = {
        **os.environ,
        "RAGOPS_DATA_DIR": str(data_dir),
        "RAGOPS_DEMO_CORPUS": "false",
        "RAGOPS_LOG_LEVEL": "INFO",
        "RAGOPS_BOOTSTRAP_API_KEY": "true",
        "COLUMNS": "120",
        **env_vars,
    }
    with log.open("wb") as out, (stderr or log).open("ab") as err:
        process = subprocess.Popen(
            [RAGOPS, "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT if stderr is None else err,
            env=env,
            cwd=data_dir.parent,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise TimeoutError(log.read_text())


def test_bootstrap_key_is_printed_once_and_works(tmp_path: Path) -> None:
    data_dir, log = tmp_path / "var", tmp_path / "serve.log"
    process, base = _serve_until_ready(data_dir, log)
    try:
        output = log.read_text()
        keys = KEY.findall(output)
        assert len(keys) == 1, output  # printed once, and in no log line
        assert "shown only this once" in output
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {keys[0]}"}) as c:
            [listed] = c.get("/v1/admin/keys").json()
            assert (listed["name"], listed["tenant_id"]) == ("bootstrap", "default")
            assert listed["scopes"] == ["chat", "ingest", "admin"]
            assert c.get("/v1/collections").status_code == 200
        assert httpx.get(base + "/v1/collections").status_code == 401  # never an open server
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_with_json_logs_the_key_is_one_json_line_of_the_log_stream(tmp_path: Path) -> None:
    """`RAGOPS_LOG_FORMAT=json` (development): stderr stays one JSON document a line, `jq` can
    read it, and the key is in it once, in the line of event `bootstrap_api_key`."""
    data_dir, out, err = tmp_path / "var", tmp_path / "serve.out", tmp_path / "serve.err"
    process, base = _serve_until_ready(data_dir, out, stderr=err, RAGOPS_LOG_FORMAT="json")
    try:
        text = err.read_text()
        lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # all JSON
        keys = KEY.findall(text)
        assert len(keys) == 1, text
        [shown] = [line for line in lines if line["event"] == "bootstrap_api_key"]
        assert shown["key"] == keys[0] and shown["tenant_id"] == "default"
        assert shown["scopes"] == ["chat", "ingest", "admin"] and shown["level"] == "warning"
        assert "shown only this once" in shown["note"]
        assert KEY.search(out.read_text()) is None
        headers = {"Authorization": f"Bearer {keys[0]}"}
        assert httpx.get(base + "/v1/collections", headers=headers).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=30)


async def test_the_json_line_goes_to_stderr_alone_never_through_logging(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Logging has other sinks (a handler a deployment adds, Sentry's breadcrumbs): the key
    reaches none of them, only stderr, as the panel does."""
    settings = make_settings(tmp_path / "var", bootstrap_api_key=True, log_format="json")
    await migrate.upgrade(settings)
    db = Database(settings)
    try:
        capsys.readouterr()
        with caplog.at_level(logging.DEBUG):
            key = await ensure_bootstrap_key(settings=settings, db=db)
        assert key is not None
        captured = capsys.readouterr()
        # stderr may also carry log lines of a handler an earlier test installed: the key is
        # on one line only, the bootstrap's own
        [line] = [line for line in captured.err.splitlines() if key in line]
        shown = json.loads(line)
        assert shown["event"] == "bootstrap_api_key" and shown["key"] == key
        assert key not in captured.out
        assert not any(key in record.getMessage() or key in str(record.__dict__)
                       for record in caplog.records)  # fmt: skip
    finally:
        await db.dispose()


async def test_bootstrap_happens_only_without_any_key_and_never_in_production(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path / "var", bootstrap_api_key=True)
    await migrate.upgrade(settings)
    db = Database(settings)
    try:
        production = settings.model_copy(update={"environment": "production"})
        assert await ensure_bootstrap_key(settings=production, db=db) is None
        off = settings.model_copy(update={"bootstrap_api_key": False})
        assert await ensure_bootstrap_key(settings=off, db=db) is None
        assert await count_keys(db=db) == 0

        first = await ensure_bootstrap_key(settings=settings, db=db)
        assert first is not None and KEY.fullmatch(first)
        assert await ensure_bootstrap_key(settings=settings, db=db) is None
        assert [k.name for k in await list_keys(db=db)] == ["bootstrap"]
    finally:
        await db.dispose()
