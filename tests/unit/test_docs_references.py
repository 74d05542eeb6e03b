"""Every name the docs use exists in the product: a runbook says what the code does.

README.md, docs/**/*.md and deploy/**/*.md (and, for settings and commands, `.env.example`,
render.yaml and the other files under deploy/) are read for four kinds of reference:

1. `RAGOPS_*` names: each is read by the Settings class (its prefix and field names) or is a
   CLI option's environment variable (`RAGOPS_API_URL`);
2. `ragops <command> [<subcommand>] [--option]` in code spans and code blocks: the command
   exists in the typer app and takes the option (resolved through click);
3. `ragops_*` series: each is exported by the code (the prometheus registry after importing
   every module that declares metrics), and each `level:ragops_*:op` is a recording rule;
4. API paths (`METHOD /path`, `$RAGOPS_URL/path` and other ragops URLs, PromQL `route`
   labels, probe paths, a code span that is a path): the app's router matches them.

A name that is deliberately not one of these stands in an allowlist below with its reason; a
test keeps every allowlist entry in use. Each checker also runs on synthetic text, so a
checker that stopped flagging anything would fail. Alert rules and the Grafana dashboard are
also checked metric by metric by tests/ops.
"""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from prometheus_client import REGISTRY
from starlette.routing import Match

from ragops.cli.main import app as cli_app
from ragops.config.settings import Settings
from tests.unit import docs_refs
from tests.unit.docs_refs import Piece, Problem

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"

ALLOWED_ENV = {
    "RAGOPS_URL": "a shell variable the runbooks set (`export RAGOPS_URL=...`): the service's "
    "public URL, read by curl, not by ragops",
    "RAGOPS_IMAGE": "a docker-compose interpolation variable (the image repository)",
    "RAGOPS_NAME": "the placeholder of `--set RAGOPS_NAME=value` (ragops stack)",
    "RAGOPS_CONTRACT_SEED": "read by the contract tests (tests/contract), not by the service",
    "RAGOPS_CONTRACT_BACKEND": "read by the contract tests (tests/contract), not by the service",
    "RAGOPS_TEST_REDIS_URL": "read by the test suite (tests/conftest.py), not by the service",
    "RAGOPS_CONTRACT_EXAMPLES": "read by the contract tests (tests/contract), not by the service",
    "RAGOPS_ANSWER_RERANKER": "an experiment's setting, built on a branch and not merged; "
    "docs/performance.md says so",
}
ALLOWED_METRICS = {
    "ragops_chunks": "the default Qdrant collection (RAGOPS_QDRANT_COLLECTION), not a series",
    "ragops_chunks__": "pgvector's tables, `ragops_chunks__<model>_<size>`, not a series",
    "ragops_owner": "a PostgreSQL role of the deployment example, not a series",
    "ragops_app": "a PostgreSQL role of the deployment example, not a series",
    "ragops_restored": "a database name of the restore example, not a series",
}
ALLOWED_ROUTES = {
    "/v1/embeddings": "the OpenAI-compatible embeddings API the `openai` embedder calls",
    "/v1/traces": "the OTLP/HTTP collector's path that traces are sent to",
}


# --- what is read --------------------------------------------------------------------------


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@cache
def doc_files() -> tuple[Path, ...]:
    found = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return tuple(found + sorted((ROOT / "deploy").rglob("*.md")))


@cache
def manifest_files() -> tuple[Path, ...]:
    """`.env.example`, render.yaml and every text file under deploy/ that is not Markdown."""
    found = [ROOT / ".env.example", ROOT / "render.yaml"]
    for path in sorted((ROOT / "deploy").rglob("*")):
        if path.is_file() and path.suffix != ".md":
            found.append(path)
    return tuple(found)


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def doc_lines() -> Iterator[Piece]:
    for path in doc_files():
        yield from docs_refs.lines(_relative(path), _text(path))


def doc_code() -> Iterator[Piece]:
    for path in doc_files():
        yield from docs_refs.code(_relative(path), _text(path))


def manifest_lines() -> Iterator[Piece]:
    for path in manifest_files():
        yield from docs_refs.lines(_relative(path), _text(path))


# --- what the product has ------------------------------------------------------------------


@cache
def cli_root() -> Any:
    return typer.main.get_command(cli_app)


def _walk(command: Any) -> Iterator[Any]:
    yield command
    for sub in getattr(command, "commands", {}).values():
        yield from _walk(sub)


@cache
def known_env() -> frozenset[str]:
    """The variables the settings read (prefix + field name, or an alias), and those of the
    CLI's options (`envvar=`)."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias or field.alias
        aliases = getattr(alias, "choices", [alias]) if alias else []
        names.update(str(a).upper() for a in aliases if isinstance(a, str))
        names.add(f"{prefix}{name}".upper())
    for command in _walk(cli_root()):
        for param in command.params:
            envvar = getattr(param, "envvar", None)
            names.update([envvar] if isinstance(envvar, str) else envvar or [])
    return frozenset(names)


_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("", "_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}


@cache
def exported_metrics() -> frozenset[str]:
    """Every series name the registry exposes once each module declaring metrics is loaded."""
    for path in sorted((SRC / "ragops").rglob("*.py")):
        if "prometheus_client import" in _text(path):
            parts = path.relative_to(SRC).with_suffix("").parts
            importlib.import_module(".".join(p for p in parts if p != "__init__"))
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
    return frozenset(name for name in names if name.startswith("ragops_"))


@cache
def recorded_series() -> frozenset[str]:
    names: set[str] = set()
    for path in sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml")):
        for group in yaml.safe_load(_text(path))["groups"]:
            names.update(rule["record"] for rule in group["rules"] if "record" in rule)
    return frozenset(names)


@cache
def http_app() -> Any:
    from ragops.main import create_app

    with tempfile.TemporaryDirectory() as data_dir:  # routing never touches it
        return create_app(Settings(data_dir=Path(data_dir), demo_corpus=False))


def route_matches(path: str, method: str | None) -> bool:
    """Whether the app's router has a route for `path` (and `method`, when given)."""
    application = http_app()
    scope = {
        "type": "http",
        "path": path,
        "method": method or "GET",
        "root_path": "",
        "headers": [],
        "query_string": b"",
        "app": application,
    }
    found = {route.matches(scope)[0] for route in application.router.routes}
    return Match.FULL in found or (method is None and Match.PARTIAL in found)


@cache
def route_templates() -> frozenset[str]:
    return frozenset(http_app().openapi()["paths"])


# --- the checks ----------------------------------------------------------------------------


def _report(problems: list[Problem], allowed: dict[str, str] | None = None) -> str:
    """Each problem not allowlisted, one a line ("" when there is none)."""
    return "\n".join(str(p) for p in problems if p.reference not in (allowed or {}))


def test_docs_name_only_real_settings() -> None:
    problems = docs_refs.env_problems(doc_lines(), known_env())
    assert not (report := _report(problems, ALLOWED_ENV)), report


def test_manifests_name_only_real_settings() -> None:
    problems = docs_refs.env_problems(manifest_lines(), known_env())
    assert not (report := _report(problems, ALLOWED_ENV)), report


def test_docs_run_only_real_commands_and_options() -> None:
    assert not (report := _report(docs_refs.cli_problems(doc_code(), cli_root()))), report


def test_manifests_run_only_real_commands_and_options() -> None:
    pieces = [
        piece
        for path in manifest_files()
        for piece in docs_refs.manifest_invocations(_relative(path), _text(path))
    ]
    assert len(pieces) > 5  # the Dockerfile, Kubernetes jobs and Render commands were read
    assert not (report := _report(docs_refs.cli_problems(pieces, cli_root()))), report


def test_docs_name_only_real_metrics() -> None:
    pieces = list(doc_lines())
    for folder in ("prometheus", "grafana"):
        for path in sorted((ROOT / "deploy" / folder).rglob("*")):
            if path.suffix in (".yml", ".json"):
                pieces.extend(docs_refs.lines(_relative(path), _text(path)))
    problems = docs_refs.metric_problems(pieces, exported_metrics(), recorded_series())
    assert not (report := _report(problems, ALLOWED_METRICS)), report


def test_docs_use_only_real_routes() -> None:
    pieces = [*doc_code(), *manifest_lines()]
    problems = docs_refs.route_problems(pieces, route_matches, route_templates())
    assert not (report := _report(problems, ALLOWED_ROUTES)), report


def test_every_allowlist_entry_is_still_needed() -> None:
    """An allowlisted name the docs no longer use goes (and a real one can't hide there)."""
    env = docs_refs.env_problems([*doc_lines(), *manifest_lines()], known_env())
    metrics = docs_refs.metric_problems(doc_lines(), exported_metrics(), recorded_series())
    routes = docs_refs.route_problems(doc_code(), route_matches, route_templates())
    for allowed, problems in ((ALLOWED_ENV, env), (ALLOWED_METRICS, metrics)):
        assert set(allowed) == {p.reference for p in problems if p.reference in allowed}
    assert set(ALLOWED_ROUTES) == {p.reference for p in routes if p.reference in ALLOWED_ROUTES}
    assert not set(ALLOWED_ENV) & known_env()
    assert not set(ALLOWED_METRICS) & exported_metrics()


# --- the checkers on synthetic text --------------------------------------------------------


def _doc(text: str) -> list[Piece]:
    return docs_refs.code("synthetic.md", text)


def _checks() -> dict[str, Callable[[str], list[Problem]]]:
    return {
        "env": lambda t: docs_refs.env_problems(docs_refs.lines("synthetic.md", t), known_env()),
        "cli": lambda t: docs_refs.cli_problems(_doc(t), cli_root()),
        "metric": lambda t: docs_refs.metric_problems(
            docs_refs.lines("synthetic.md", t), exported_metrics(), recorded_series()
        ),
        "route": lambda t: docs_refs.route_problems(_doc(t), route_matches, route_templates()),
    }


@pytest.mark.parametrize(
    ("check", "good", "bad", "reference"),
    [
        ("env", "Set `RAGOPS_REDIS_URL`.", "Set `RAGOPS_REDIS_URI`.", "RAGOPS_REDIS_URI"),
        ("env", "`RAGOPS_LLM_*` settings", "`RAGOPS_LLMS_*` settings", "RAGOPS_LLMS_*"),
        ("env", "RAGOPS_API_URL=http://x", "RAGOPS_API_ADDRESS=http://x", "RAGOPS_API_ADDRESS"),
        ("cli", "Run `ragops db upgrade`.", "Run `ragops db migrate`.", "ragops db migrate"),
        ("cli", "`ragops stack up --instances 3`", "`ragops stack up --replicas 3`",
         "ragops stack up --replicas"),
        ("cli", "```bash\nragops keys create \\\n  --scopes chat\n```",
         "```bash\nragops keys create \\\n  --scope chat\n```", "ragops keys create --scope"),
        ("cli", "`docker run IMG:1 ragops db current`", "`docker run ragops:1 ragops dbs`",
         "ragops dbs"),
        ("cli", "`ragops store check|reconcile`", "`ragops store check|repair`",
         "ragops store check|repair"),
        ("cli", "`cd x && .venv/bin/ragops audit-log --since 1h`",
         "`cd x && .venv/bin/ragops audit-log --until 1h`", "ragops audit-log --until"),
        ("metric", "`ragops_http_requests_total`", "`ragops_http_request_total`",
         "ragops_http_request_total"),
        ("metric", "`ragops_rag_stage_duration_seconds_bucket`",
         "`ragops_rag_stage_duration_bucket`", "ragops_rag_stage_duration_bucket"),
        ("metric", "job:ragops_http_request_errors:ratio_rate5m > 1",
         "job:ragops_http_request_errors:ratio_rate7m > 1",
         "job:ragops_http_request_errors:ratio_rate7m"),
        ("route", "`GET /v1/status`", "`GET /v1/state`", "GET /v1/state"),
        ("route", "`/ops/api/summary`", "`/ops/api/summaries`", "/ops/api/summaries"),
        ("route", "`POST /v1/chat`", "`DELETE /v1/chat`", "DELETE /v1/chat"),
        ("route", '```bash\ncurl "$RAGOPS_URL/v1/documents/3f2a"\n```',
         '```bash\ncurl "$RAGOPS_URL/v1/document/3f2a"\n```', "/v1/document/3f2a"),
        ("route", "`/v1/admin/keys/{id}/rotate`", "`/v1/admin/keys/{id}/renew`",
         "/v1/admin/keys/{id}/renew"),
        ("route", '```promql\nrate(x{route="/v1/chat"}[5m])\n```',
         '```promql\nrate(x{route="/v1/ask"}[5m])\n```', "/v1/ask"),
    ],
)  # fmt: skip
def test_each_checker_flags_a_name_that_does_not_exist(
    check: str, good: str, bad: str, reference: str
) -> None:
    run = _checks()[check]
    assert run(good) == []
    problems = run(bad)
    assert [p.reference for p in problems] == [reference]
    line = 1 + bad[: bad.index(reference.split()[0])].count("\n")
    assert str(problems[0]).startswith(f"synthetic.md:{line}: {reference}: ")


def test_prose_and_other_programs_are_not_commands() -> None:
    text = (
        "ragops serves the docs; `another ragops process (pid N)` holds it.\n\n"
        "```\n0 3 * * * ragops  cd /srv/ragops && ragops db maintain\n"
        "amtool config routes test service=ragops severity=P2\n```\n"
    )
    pieces = _doc(text)
    assert [words for piece in pieces for words in docs_refs.invocations(piece)] == [
        ["db", "maintain"]
    ]


def test_manifest_commands_are_read() -> None:
    text = (
        'args: ["ragops", "db", "archive", "--older-than", "30d"]\n'
        'args: ["ragops", "db", "archiv"]\n'
        "preDeployCommand: ragops db upgrade --fast\n"
        "command={{ragops}} serve --host 127.0.0.1 --portt 8000\n"
        "# one-off commands use the same image: `ragops stack upp`\n"
    )
    pieces = docs_refs.manifest_invocations("manifest.yaml", text)
    assert [(p.line, p.reference) for p in docs_refs.cli_problems(pieces, cli_root())] == [
        (2, "ragops db archiv"),
        (3, "ragops db upgrade --fast"),
        (4, "ragops serve --portt"),
        (5, "ragops stack upp"),
    ]
