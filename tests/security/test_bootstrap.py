"""The bootstrap key: the first start of `ragops serve` with no key at all creates an admin key
of tenant "default" and prints it once on the console; it works, and it is never created
again, nor in production."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ragops.auth.bootstrap import ensure_bootstrap_key
from ragops.auth.service import count_keys, list_keys
from ragops.db import Database, migrate
from tests.conftest import free_port, make_settings

RAGOPS = str(Path(sys.executable).with_name("ragops"))
KEY = re.compile(r"rgo_[A-Za-z0-9_-]{43}")


def _serve_until_ready(data_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "RAGOPS_DATA_DIR": str(data_dir),
        "RAGOPS_DEMO_CORPUS": "false",
        "RAGOPS_LOG_LEVEL": "INFO",
        "RAGOPS_BOOTSTRAP_API_KEY": "true",
        "COLUMNS": "120",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [RAGOPS, "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
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
