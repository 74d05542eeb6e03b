"""The command that runs what a section describes, for the extractive answerer's how-to
answers (`chat.blocks`).

A reference page often lists its subcommands in one code block ("tool audit secrets
[--repo .]", "tool audit deps ...") and describes each in a section of its own titled by the
subcommand ("secrets") without writing the command line again. A how-to question answered
with such a section would quote the description and never say what to run; `running_command`
finds the command line in a code block of another retrieved passage of the same document
whose subcommand is the section's heading.
"""

from __future__ import annotations

import re

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
    heading = context.sections[number - 1].rsplit(">", 1)[-1].strip()
    if _SUBCOMMAND_HEADING.fullmatch(heading) is None:
        return None
    wanted = heading.split()
    document = context.documents[number - 1]
    for unit, _ in scored:
        if unit.kind != "code" or unit.passage == number:
            continue
        if context.documents[unit.passage - 1] != document:
            continue
        for raw in unit.text.splitlines():
            line = _COMMENT.sub("", raw).strip()
            match = _INVOCATION.match(line)
            if match is None:
                continue
            words = match.group(1).split()
            ends = range(1 + len(wanted), len(words) + 1)
            named = any(words[end - len(wanted) : end] == wanted for end in ends)
            if named and " ".join(words) not in shown:
                return clip(line.removeprefix("$").strip(), MAX_COMMAND_CHARS), unit.passage
    return None
