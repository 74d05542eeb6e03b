"""Production refuses embedded stores, auto-migration and the demo corpus unless told
explicitly, never ingests the demo corpus, and `ragops audit config` flags each."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragops.audit import config_check
from ragops.config.production import ProductionConfigError
from ragops.main import create_app
from tests.conftest import REDIS_URL, RunningServer, make_settings, run_cli

PASSWORD = "Zq8-generated-7c1f0e5b"  # pragma: allowlist secret
DATABASE_URL = f"postgresql+asyncpg://ragops:{PASSWORD}@db.internal/ragops"
VARIABLES = [
    "RAGOPS_DATABASE_URL",
    "RAGOPS_QDRANT_URL",
    "RAGOPS_REDIS_URL",
    "RAGOPS_AUTO_MIGRATE",
    "RAGOPS_DEMO_CORPUS",
]


def test_production_refuses_embedded_defaults(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "var", environment="production", demo_corpus=True, auto_migrate=True
    )
    with pytest.raises(ProductionConfigError) as refused:
        create_app(settings)
    for variable in VARIABLES:
        assert variable in str(refused.value)
    assert "RAGOPS_ALLOW_EMBEDDED_IN_PRODUCTION" in str(refused.value)

    findings = config_check.audit_config(settings).findings
    assert sorted(f.location for f in findings if f.location in VARIABLES) == sorted(VARIABLES)


def test_production_on_servers_starts_and_audits_clean(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "var",
        environment="production",
        database_url=DATABASE_URL,
        qdrant_url="https://vectors.internal:6333",
        redis_url="redis://cache.internal:6379/0",
        auto_migrate=False,
        demo_corpus=False,
    )
    create_app(settings)  # no refusal
    locations = {f.location for f in config_check.audit_config(settings).findings}
    assert not locations & set(VARIABLES)


def test_serve_refuses_with_a_message_not_a_traceback(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path / "var", "serve", check=False, env={"RAGOPS_ENVIRONMENT": "production"}
    )
    assert result.returncode != 0
    assert "production refuses to start" in result.stderr
    assert "RAGOPS_DATABASE_URL" in result.stderr


def test_allowed_production_starts_but_never_ingests_the_demo_corpus(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "var",
        environment="production",
        allow_embedded_in_production=True,
        demo_corpus=True,
        redis_url=REDIS_URL,
    )
    running = RunningServer(settings)
    live = running.start()
    try:
        with live.client() as client:
            listed = client.get("/v1/documents")
            assert listed.status_code == 200, listed.text
            assert listed.json()["total"] == 0
            assert client.get("/readyz").json()["ready"] is True
    finally:
        running.stop()


def test_production_accepts_pgvector_as_the_shared_vector_store(tmp_path: Path) -> None:
    """pgvector in the application's PostgreSQL database is a shared store; asked for
    without any PostgreSQL URL, production refuses and names the setting."""
    shared = make_settings(
        tmp_path / "var",
        environment="production",
        database_url=DATABASE_URL,
        vector_store="pgvector",
        redis_url="redis://cache.internal:6379/0",
        auto_migrate=False,
        demo_corpus=False,
    )
    create_app(shared)  # no refusal: vectors live in the same PostgreSQL database
    locations = {f.location for f in config_check.audit_config(shared).findings}
    assert not locations & {*VARIABLES, "RAGOPS_PGVECTOR_URL"}

    without_postgres = make_settings(
        tmp_path / "var2",
        environment="production",
        vector_store="pgvector",
        redis_url="redis://cache.internal:6379/0",
        auto_migrate=False,
        demo_corpus=False,
    )
    with pytest.raises(ProductionConfigError) as refused:
        create_app(without_postgres)
    assert "RAGOPS_PGVECTOR_URL" in str(refused.value)
    assert "RAGOPS_QDRANT_URL" not in str(refused.value)
