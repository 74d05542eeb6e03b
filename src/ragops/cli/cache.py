"""`ragops cache`: clear cached answers, or warm the cache with common questions."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ragops.cli.keys import tenant_option
from ragops.cli.runner import console, fail, load_settings, with_runtime
from ragops.config.names import validate_collection_name

if TYPE_CHECKING:
    from ragops.cache.models import CacheClearResult
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
    and delete them from the cache backend. Works while the server runs."""
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
    console.print(
        f"cleared cached answers of {scope}: {result.scopes} collections invalidated, "
        f"{result.entries_removed} entries removed",
        markup=False,
        highlight=False,
    )


def read_questions(path: Path) -> list[dict[str, str]]:
    """Questions from a YAML or JSON list: strings, or {question, collection?} objects."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        data: Any = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
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
            if isinstance(item.get("collection"), str):
                entry["collection"] = validate_collection_name(item["collection"])
            questions.append(entry)
        else:
            raise ValueError(f"item {number} of {path} is neither a question nor {{question: ...}}")
    return questions


@cache_app.command()
def warm(
    file: Annotated[Path, typer.Argument(help="YAML or JSON list of questions.")],
    collection: CollectionOption = None,
    tenant: Annotated[
        str, typer.Option("--tenant", "-t", callback=tenant_option, help="The tenant acted for.")
    ] = "default",
) -> None:
    """Answer each question once so its answer is cached (common questions, pre-computed)."""
    from ragops.chat import service as chat
    from ragops.observability.context import new_request_id

    try:
        questions = read_questions(file)
    except ValueError as exc:
        fail(str(exc))

    async def work(runtime: Runtime) -> dict[str, int]:
        counts = {"hit-exact": 0, "hit-semantic": 0, "miss": 0, "failed": 0}
        for item in questions:
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
                console.print(f"skipped {item['question']!r}: {exc}", markup=False)
                continue
            counts[result.cache] += 1
        return counts

    counts = with_runtime(work)
    console.print(
        f"{len(questions)} questions: {counts['miss']} answered and cached if grounded, "
        f"{counts['hit-exact'] + counts['hit-semantic']} already cached, "
        f"{counts['failed']} failed",
        markup=False,
        highlight=False,
    )
    if counts["failed"]:
        raise typer.Exit(1)
