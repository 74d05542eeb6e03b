"""The stack's settings: what several instances must share is required, what they cannot
share is refused, with a message saying what to set; the CLI says so without a traceback."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ragops.cli.main import app
from ragops.stack.config import StackConfigError, shared_settings

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/ragops"
REDIS = "redis://127.0.0.1:6379/0"


def test_instances_share_postgres_redis_and_a_vector_store() -> None:
    env = shared_settings(
        {"RAGOPS_DATABASE_URL": PG, "RAGOPS_REDIS_URL": REDIS, "HOME": "/root"},
        {"RAGOPS_PORT": "1", "RAGOPS_LOG_LEVEL": "DEBUG"},
    )
    assert env["RAGOPS_VECTOR_STORE"] == "pgvector"
    assert env["RAGOPS_AUTO_MIGRATE"] == "false"
    assert env["RAGOPS_TRUSTED_PROXIES"] == '["127.0.0.1"]'
    assert env["RAGOPS_DRAIN_REFUSE_NEW"] == "true"
    assert env["RAGOPS_LOG_LEVEL"] == "DEBUG"
    assert "RAGOPS_PORT" not in env and "HOME" not in env
    assert len(env["RAGOPS_INCIDENT_LINK_SECRET"]) >= 32


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ({"RAGOPS_REDIS_URL": REDIS}, "RAGOPS_DATABASE_URL"),
        (
            {"RAGOPS_DATABASE_URL": "sqlite+aiosqlite:///x.db", "RAGOPS_REDIS_URL": REDIS},
            "PostgreSQL",
        ),
        ({"RAGOPS_DATABASE_URL": PG}, "RAGOPS_REDIS_URL"),
        (
            {"RAGOPS_DATABASE_URL": PG, "RAGOPS_REDIS_URL": REDIS, "RAGOPS_VECTOR_STORE": "edge"},
            "shared one",
        ),
    ],
)
def test_what_instances_cannot_share_is_refused(given: dict[str, str], says: str) -> None:
    with pytest.raises(StackConfigError, match=says):
        shared_settings(given, {})


def test_the_cli_names_the_missing_setting(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("RAGOPS_DATABASE_URL", "RAGOPS_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(app, ["stack", "up", "--run-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "RAGOPS_DATABASE_URL" in result.output and "Traceback" not in result.output
    bad = CliRunner().invoke(app, ["stack", "status", "--run-dir", str(tmp_path)])
    assert bad.exit_code == 1 and "no stack" in bad.output
