"""The `ragops` command, run as a real process on embedded defaults: ingest with outcomes,
ask (text and the API's JSON), collections, documents list/delete, and clear errors with a
non-zero exit for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragops.chat.models import ChatResponse
from ragops.db import migrate
from tests.conftest import free_port, run_cli
from tests.e2e.conftest import POOL_DOC, ROLLBACK_DOC


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    (folder / "pool.md").write_bytes(POOL_DOC)
    (folder / "guides").mkdir()
    (folder / "guides" / "rollback.md").write_bytes(ROLLBACK_DOC)
    (folder / "guides" / "notes.bin").write_bytes(b"\x00\x01")  # skipped: not a document type
    return folder


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> Path:
    data = tmp_path_factory.mktemp("cli") / "var"
    result = run_cli(data, "ingest", str(corpus), "--collection", "ops")
    assert "created" in result.stdout and "guides/rollback.md" in result.stdout
    return data


def test_reingest_reports_unchanged(data_dir: Path, corpus: Path) -> None:
    result = run_cli(data_dir, "ingest", str(corpus), "-c", "ops")
    assert "unchanged" in result.stdout and "created" not in result.stdout


def test_ask_json_is_the_api_response(data_dir: Path) -> None:
    result = run_cli(
        data_dir, "ask", "How long does a request wait for a connection?", "-c", "ops", "--json"
    )
    body = ChatResponse.model_validate_json(result.stdout)
    assert body.mode == "extractive" and "thirty seconds" in body.answer
    assert body.citations[0].title == "Connection pool"
    fields = set(ChatResponse.model_fields) | set(ChatResponse.model_computed_fields)
    assert set(json.loads(result.stdout)) == fields


def test_ask_prints_answer_and_citations(data_dir: Path) -> None:
    result = run_cli(data_dir, "ask", "How do I roll back a release?", "-c", "ops")
    assert "revert the commit" in result.stdout
    assert "[1] Rollback" in result.stdout and "mode: extractive" in result.stdout


def test_collections_and_documents(data_dir: Path, corpus: Path) -> None:
    assert "ops" in run_cli(data_dir, "collections").stdout
    listing = json.loads(run_cli(data_dir, "documents", "list", "--json").stdout)
    sources = {item["source"]: item["id"] for item in listing["items"]}
    assert set(sources) == {"pool.md", "guides/rollback.md"}

    (corpus / "extra.txt").write_text("Kites fly best in steady wind.", encoding="utf-8")
    run_cli(data_dir, "ingest", str(corpus / "extra.txt"), "-c", "ops")
    listing = json.loads(run_cli(data_dir, "documents", "list", "-c", "ops", "--json").stdout)
    extra = next(item["id"] for item in listing["items"] if item["source"] == "extra.txt")
    assert "deleted" in run_cli(data_dir, "documents", "delete", extra).stdout
    gone = run_cli(data_dir, "documents", "delete", extra, check=False)
    assert gone.returncode == 1 and "not found" in gone.stderr
    # as the API answers it: an unknown collection is named, an emptied one lists nothing
    unknown = run_cli(data_dir, "documents", "list", "-c", "never-made", check=False)
    assert unknown.returncode == 1 and "collection 'never-made' not found" in unknown.stderr
    emptied = run_cli(data_dir, "documents", "list", "-c", "default", "--json").stdout
    assert json.loads(emptied) == {"items": [], "total": 0}


def test_bad_input_is_a_clear_error(data_dir: Path, tmp_path: Path) -> None:
    missing = run_cli(data_dir, "ingest", str(tmp_path / "nope.md"), check=False)
    assert missing.returncode != 0 and "no such file" in missing.stderr

    bad = tmp_path / "image.txt"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    refused = run_cli(data_dir, "ingest", str(bad), check=False)
    assert refused.returncode == 1
    assert "image.txt" in refused.stdout and "1 of 1 files were not ingested" in refused.stderr

    empty = run_cli(data_dir, "ask", "   ", check=False)
    assert empty.returncode == 1 and "question is empty" in empty.stderr

    name = run_cli(data_dir, "ask", "hi", "-c", "Bad Name!", check=False)
    assert name.returncode == 2 and "collection names" in name.stderr

    session = run_cli(data_dir, "ask", "hi", "--session", "nope", check=False)
    assert session.returncode == 1 and "session nope not found" in session.stderr


def test_db_commands(data_dir: Path) -> None:
    current = run_cli(data_dir, "db", "current").stdout
    head = migrate.head_revision()
    assert f"current: {head}" in current and f"head: {head}" in current


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"RAGOPS_CORS_ORIGINS": '["https://app.example/"]'}, "RAGOPS_CORS_ORIGINS"),
        (
            {"RAGOPS_CORS_ORIGINS": '["*"]', "RAGOPS_CORS_ALLOW_CREDENTIALS": "true"},
            "RAGOPS_CORS_ALLOW_CREDENTIALS",
        ),
        ({"RAGOPS_RATE_LIMIT_CHAT": "lots"}, "RAGOPS_RATE_LIMIT_CHAT"),
        ({"RAGOPS_TRUSTED_PROXIES": '["not-an-address"]'}, "RAGOPS_TRUSTED_PROXIES"),
    ],
)
def test_serve_refuses_unsafe_security_settings_with_one_line(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    """An unsafe or malformed CORS, rate-limit or proxy setting stops `ragops serve` before it
    announces anything: one `error:` line naming the variable, no traceback (run_cli checks)."""
    refused = run_cli(tmp_path / "var", "serve", "--port", "9", env=env, check=False)
    assert refused.returncode != 0
    assert refused.stderr.startswith("error: ") and named in refused.stderr, refused.stderr
    assert "chat page" not in refused.stdout


@pytest.mark.parametrize(
    ("variables", "told"),
    [
        (  # the database is down (a closed loopback port)
            {"RAGOPS_DATABASE_URL": "postgresql+asyncpg://ragops@127.0.0.1:{port}/ragops"},
            "error: cannot start: cannot reach the database",
        ),
        (  # the vector store is down
            {"RAGOPS_VECTOR_STORE": "qdrant", "RAGOPS_QDRANT_URL": "http://127.0.0.1:{port}"},
            "error: cannot start: cannot prepare collection",
        ),
    ],
)
def test_serve_without_its_dependencies_says_why_in_one_line(
    tmp_path: Path, variables: dict[str, str], told: str
) -> None:
    """A server that cannot start because a dependency is down says which, in one line and
    a non-zero exit, not uvicorn's traceback of the lifespan."""
    port = free_port()  # nothing listens there
    env = {name: value.format(port=port) for name, value in variables.items()}
    result = run_cli(tmp_path / "var", "serve", "--port", str(free_port()), check=False, env=env)
    assert result.returncode != 0
    assert told in result.stderr, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "var" / "server.json").exists()
