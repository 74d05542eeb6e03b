"""Helpers the CLI commands share: run a coroutine with a started runtime, report errors
as one clear line and a non-zero exit instead of a traceback."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, NoReturn, TypeVar

import typer
from rich.console import Console

if TYPE_CHECKING:
    from ragops.config import Settings
    from ragops.runtime import Runtime

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)

CLI_TENANT = "default"


def print_error(message: str) -> None:
    """Print an error line on stderr (not wrapped, so a path or command in it can be copied
    whole; secrets in it redacted)."""
    from ragops.observability.logging import redact_text

    err_console.print("[bold red]error:[/] ", end="", markup=True, highlight=False)
    err_console.print(redact_text(message), markup=False, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print an error line and exit non-zero."""
    print_error(message)
    raise typer.Exit(code)


def load_settings() -> Settings:
    """Settings from the environment, with a readable error when they are invalid."""
    from ragops.config import get_settings

    try:
        return get_settings()
    except Exception as exc:  # pydantic ValidationError and friends
        fail(f"invalid configuration: {exc}")


def configure_cli_logging(settings: Settings) -> None:
    """The log lines of a command on stderr: those of `configure_logging`, except a command's
    own audit events at INFO, which the command's output already says (they are stored in
    `audit_events` all the same; RAGOPS_LOG_LEVEL=DEBUG shows them, failures always show)."""
    import logging

    from ragops.observability.logging import configure_logging

    configure_logging(settings)
    level = logging.getLogger().level
    quiet = max(level, logging.WARNING) if level >= logging.INFO else level
    logging.getLogger("ragops.audit").setLevel(quiet)


def with_runtime(work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Migrate, start the components, run `work`, close everything; map errors to exits."""
    from ragops.db import migrate
    from ragops.documents.errors import IngestError
    from ragops.errors import RagopsError
    from ragops.runtime import Runtime

    settings = load_settings()
    configure_cli_logging(settings)

    async def main() -> T:
        if settings.auto_migrate:
            await migrate.upgrade(settings)
        runtime = await Runtime.start(settings)
        try:
            return await work(runtime)
        finally:
            await runtime.aclose()

    try:
        return asyncio.run(main())
    except (RagopsError, IngestError) as exc:
        fail(exc.message)
    except RuntimeError as exc:
        if "already accessed" in str(exc):
            fail(
                "the embedded vector store is in use by another ragops process. A server "
                "started with `ragops serve` on this data is used automatically; for another "
                "one pass --url and --api-key, or stop it, or point RAGOPS_QDRANT_URL at a "
                "Qdrant server that both can share."
            )
        raise
    except OSError as exc:
        fail(f"cannot reach a dependency: {exc}")
