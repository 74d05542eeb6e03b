"""`ragops cache`: clear cached answers, or warm the cache with common questions."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ragops.cli.keys import tenant_option
from ragops.cli.remote import KeyOpt, UrlOpt
from ragops.cli.runner import CLI_TENANT, console, counted, fail, load_settings, with_runtime
from ragops.config.names import validate_collection_name
from ragops.os_errors import decode_reason, os_reason

if TYPE_CHECKING:
    from ragops.cache.models import CacheClearResult
    from ragops.chat.models import ChatResponse
    from ragops.cli.remote import Remote
    from ragops.runtime import Runtime

cache_app = typer.Typer(help="The answer cache.", no_args_is_help=True)


def _collection(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return validate_collection_name(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


CollectionOption = Annotated[
    str | None,
    typer.Option("--collection", "-c", callback=_collection, help="Only this collection."),
]


@cache_app.command()
def clear(
    tenant: Annotated[
        str | None,
        typer.Option("--tenant", "-t", callback=tenant_option, help="Only this tenant."),
    ] = None,
    collection: CollectionOption = None,
) -> None:
    """Make cached answers unreachable on every instance (all, a tenant's or a collection's)
    and delete them from the cache backend. Works while the server runs (with the in-process
    backend the server's entries are out of reach: unreachable, counted as none removed)."""
    from ragops.auth.audit import record_event
    from ragops.cache.service import AnswerCache
    from ragops.db import Database, migrate
    from ragops.providers.cache.factory import create_cache

    settings = load_settings()

    async def work() -> CacheClearResult:
        if settings.auto_migrate:
            await migrate.upgrade(settings)
        db = Database(settings)
        cache = create_cache(settings)
        try:
            answers = AnswerCache(settings=settings, db=db, cache=cache, fingerprint="")
            result = await answers.clear(tenant_id=tenant, collection=collection)
            await record_event(
                db=db,
                action="admin.cache.clear",
                tenant_id=tenant,
                target=collection,
                detail={
                    "interface": "cli",
                    "scopes": result.scopes,
                    "entries_removed": result.entries_removed,
                },
            )
            return result
        finally:
            await cache.aclose()
            await db.dispose()

    try:
        result = asyncio.run(work())
    except OSError as exc:
        fail(f"cannot reach a dependency: {exc}")
    scope = " ".join(
        part
        for part in (
            f"tenant {tenant}" if tenant else "every tenant",
            f"collection {collection}" if collection else "",
        )
        if part
    )
    if result.scopes == 0 and (tenant or collection):
        if tenant is None:
            fail(f"no tenant has a collection {collection}: nothing was cleared")
        fail(f"tenant {tenant} has no collection {collection or ''}".rstrip() + ": nothing cleared")
    console.print(
        f"cleared cached answers of {scope}: {counted(result.scopes, 'collection')} "
        f"invalidated, {counted(result.entries_removed, 'entry', 'entries')} removed",
        markup=False,
        highlight=False,
    )


def yaml_loader() -> Any:
    """PyYAML's safe loader, libyaml's C one when PyYAML was built with it (ten times faster
    on a large question file); both refuse tags that would build Python objects."""
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_questions(path: Path) -> list[dict[str, str]]:
    """Questions from a YAML or JSON list: strings, or {question, collection?} objects."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"cannot read {path}: {decode_reason(exc)}") from exc
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {os_reason(exc)}") from exc
    try:
        data: Any = (
            json.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=yaml_loader())
        )
    except (ValueError, yaml.YAMLError) as exc:
        raise ValueError(f"{path} is not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}") from exc
    if not isinstance(data, list):
        raise ValueError(f"{path} must hold a list of questions")
    questions: list[dict[str, str]] = []
    for number, item in enumerate(data, start=1):
        if isinstance(item, str) and item.strip():
            questions.append({"question": item})
        elif isinstance(item, dict) and isinstance(item.get("question"), str):
            entry = {"question": item["question"]}
            if item.get("collection") is not None:
                try:
                    entry["collection"] = validate_collection_name(str(item["collection"]))
                except ValueError as exc:
                    raise ValueError(f"item {number} of {path}: {exc}") from exc
            questions.append(entry)
        else:
            raise ValueError(f"item {number} of {path} is neither a question nor {{question: ...}}")
    return questions


WARM_STATUSES = ("hit-exact", "hit-semantic", "cached", "not cached", "failed")
"""How `warm` counts a question: already cached, newly cached (a grounded answer), answered
but not cacheable (no citation, or a fallback answer), or not answered at all."""

_OK_PER_QUESTION = (404, 409, 413, 422, 500, 502, 503, 504)
"""Answers of the server that skip one question; any other error (401, 403) stops the run."""


def _shown(question: str, limit: int = 80) -> str:
    """A question as a message quotes it: at most `limit` characters."""
    if len(question) <= limit:
        return repr(question)
    return f"{question[:limit]!r}… ({len(question)} characters)"


def _status(response: ChatResponse) -> str:
    if response.cache != "miss":
        return response.cache
    grounded = response.citations and response.fallback_reason is None
    return "cached" if grounded and response.answer.strip() else "not cached"


def _warm_through(
    remote: Remote, tenant: str | None, questions: list[dict[str, str]], collection: str | None
) -> dict[str, int]:
    """Ask each question of the running server (POST /v1/chat), so its own cache is warmed."""
    from ragops.chat.models import ChatResponse
    from ragops.cli.remote import api_client

    counts = dict.fromkeys(WARM_STATUSES, 0)
    with api_client(remote, tenant, ["chat"]) as api:
        for number, item in enumerate(questions, start=1):
            body = {"question": item["question"], "collection": item.get("collection", collection)}
            response = api.call("POST", "/v1/chat", json=body, ok=_OK_PER_QUESTION)
            if not response.is_success:
                counts["failed"] += 1
                error = response.json().get("error") or {}
                message = error.get("message") or f"HTTP {response.status_code}"
                console.print(
                    f"skipped item {number} {_shown(item['question'])}: {message}", markup=False
                )
                continue
            counts[_status(ChatResponse.model_validate_json(response.content))] += 1
    return counts


def _warm_here(
    tenant: str, questions: list[dict[str, str]], collection: str | None
) -> dict[str, int]:
    """Answer each question in this process (no server runs on this data)."""
    from ragops.chat import service as chat
    from ragops.observability.context import new_request_id

    async def work(runtime: Runtime) -> dict[str, int]:
        counts = dict.fromkeys(WARM_STATUSES, 0)
        for number, item in enumerate(questions, start=1):
            try:
                result = await chat.answer(
                    runtime.chat_deps,
                    tenant_id=tenant,
                    question=item["question"],
                    session_id=None,
                    collection=item.get("collection", collection),
                    request_id=new_request_id(),
                )
            except Exception as exc:  # one bad question does not stop the warm-up
                counts["failed"] += 1
                console.print(
                    f"skipped item {number} {_shown(item['question'])}: {exc}", markup=False
                )
                continue
            counts[_status(result)] += 1
        return counts

    return with_runtime(work)


@cache_app.command()
def warm(
    file: Annotated[Path, typer.Argument(help="YAML or JSON list of questions.")],
    collection: CollectionOption = None,
    tenant: Annotated[
        str | None,
        typer.Option(
            "--tenant", "-t", callback=tenant_option, help="The tenant acted for (default)."
        ),
    ] = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Answer each question once so its answer is cached (common questions, pre-computed).
    Beside a running server (on this data, or --url) the server answers them: its cache
    is warmed (at the key's chat rate limit; beside a local server without --api-key the
    command's temporary key lives ten minutes, so give --api-key for a long list). Prints
    how many were newly cached, already cached, without a grounded answer (never cached) and
    failed (each named by its number; exit 1)."""
    from ragops.cli.remote import check_tenant, find_remote

    try:
        questions = read_questions(file)
    except ValueError as exc:
        fail(str(exc))
    remote = find_remote(url, api_key)
    if remote is not None:
        check_tenant(remote, tenant)
        counts = _warm_through(remote, tenant, questions, collection)
        where = f", answered by {remote.where}"
    else:
        settings = load_settings()
        counts = _warm_here(tenant or CLI_TENANT, questions, collection)
        where = ""
        if settings.redis_url is None:
            where = ", answered in this process only (in-process cache: no server shares it)"
    console.print(
        f"{len(questions)} questions{where}: {counts['cached']} cached, "
        f"{counts['hit-exact'] + counts['hit-semantic']} already cached, "
        f"{counts['not cached']} without a grounded answer (not cached), "
        f"{counts['failed']} failed",
        markup=False,
        highlight=False,
    )
    if counts["failed"]:
        raise typer.Exit(1)
