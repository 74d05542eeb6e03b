"""Usage errors of every `ragops` command as one line: an unknown option or command, a missing
argument, a bad option value print `error: <what was wrong> (run '<command> --help')` on
stderr and exit 2, the form of every other CLI error (docs/cli.md), instead of Typer's box.

`UsageLineGroup` is the root group's class: every command's arguments are parsed under its
`make_context` (the root's own) or `invoke` (every subcommand's), so one class covers them
all. Typer's help on a command given no arguments (`NoArgsIsHelpError`) is left as it is."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

from ragops.cli.runner import print_error


def usage_line(exc: UsageError) -> str:
    """The one-line message of a usage error: Typer's own words (which name the option or
    argument and what was wrong), then where to find the command's usage."""
    message = " ".join(exc.format_message().split()).removesuffix(".")
    command = exc.ctx.command_path if exc.ctx is not None else "ragops"
    return f"{message} (run '{command} --help')"


@contextmanager
def _one_line() -> Iterator[None]:
    try:
        yield
    except NoArgsIsHelpError:
        raise
    except UsageError as exc:
        print_error(usage_line(exc))
        raise typer.Exit(exc.exit_code) from None


class UsageLineGroup(TyperGroup):
    """The root command group: usage errors below it become one `error:` line."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        with _one_line():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        with _one_line():
            return super().invoke(ctx)
