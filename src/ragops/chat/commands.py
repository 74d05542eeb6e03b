"""The command that runs what a section describes, for the extractive answerer's how-to
answers (`chat.blocks`).

A reference page often lists its subcommands in one code block ("tool audit secrets
[--repo .]", "tool audit deps ...") and describes each in a section of its own titled by the
subcommand ("secrets") without writing the command line again. A how-to question answered
with such a section would quote the description and never say what to run; `running_command`
finds the command line in a code block of another retrieved passage of the same document
whose subcommand is the section's heading. When no retrieved passage holds that code block,
`chat.sections.add_command_chunks` reads it from the page first (`runs_subcommand`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ragops.chat.shapes import Context
from ragops.chat.units import Unit, clip

MAX_COMMAND_CHARS = 160
_SUBCOMMAND_HEADING = re.compile(r"[a-z][\w.-]*(?:\s+[a-z][\w.-]*){0,2}")
"""A heading that reads as a subcommand: one to three lower-case words ("secrets")."""
_INVOCATION = re.compile(r"^(?:\$\s+)?([a-z][\w.-]*(?:\s+[a-z][\w.-]*){1,4})")
"""A command line's program and subcommands ("tool audit secrets" of "tool audit secrets
[--repo .]"), before its arguments."""
_COMMENT = re.compile(r"\s+#.*$")


def running_command(
    context: Context, scored: list[tuple[Unit, float]], number: int, shown: str
) -> tuple[str, int] | None:
    """The command line (and its passage number) that runs what passage `number`'s section
    describes: a line of a code block of another retrieved passage of the same document
    whose program is followed by the section's heading as a subcommand (after other
    subcommands or not: "tool audit secrets" for "secrets"); None when the
    heading is no subcommand's name, no such line was retrieved, or `shown` holds it."""
    wanted = subcommand(context.sections[number - 1])
    if wanted is None:
        return None
    document = context.documents[number - 1]
    for unit, _ in scored:
        if unit.kind != "code" or unit.passage == number:
            continue
        if context.documents[unit.passage - 1] != document:
            continue
        for raw in unit.text.splitlines():
            line = _COMMENT.sub("", raw).strip()
            words = _invoked(line, wanted)
            if words and " ".join(words) not in shown:
                return clip(line.removeprefix("$").strip(), MAX_COMMAND_CHARS), unit.passage
    return None


def subcommand(section: str) -> list[str] | None:
    """The words of a section's last heading when it reads as a subcommand ("secrets")."""
    heading = section.rsplit(">", 1)[-1].strip()
    return heading.split() if _SUBCOMMAND_HEADING.fullmatch(heading) else None


def _invoked(line: str, wanted: list[str]) -> list[str] | None:
    """The program and subcommands of command line `line` when subcommand `wanted` ends
    them ("tool audit secrets" for "secrets"), else None."""
    match = _INVOCATION.match(line)
    if match is None:
        return None
    words = match.group(1).split()
    ends = range(1 + len(wanted), len(words) + 1)
    return words if any(words[end - len(wanted) : end] == wanted for end in ends) else None


def runs_subcommand(text: str, quoted: Sequence[Sequence[int]], wanted: list[str]) -> bool:
    """Whether a line of a code block of `text` (a chunk, its code blocks at the `quoted`
    offsets) runs subcommand `wanted`."""
    for span in quoted:
        if len(span) != 2:
            continue
        for raw in text[int(span[0]) : int(span[1])].splitlines():
            if _invoked(_COMMENT.sub("", raw).strip().removeprefix("$").strip(), wanted):
                return True
    return False
