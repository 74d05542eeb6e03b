"""Render the settings as the Markdown table the README shows, so the documentation is
generated from the one settings class and a test keeps the two identical.

`python -m ragops.config.table README.md` rewrites the table between the README's markers.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import SecretStr

from ragops.config.settings import Settings

START = "<!-- settings-table:start -->"
END = "<!-- settings-table:end -->"


def _default(value: object) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Path):
        return f"`{value.as_posix()}`"
    if isinstance(value, list):
        return "`" + ",".join(str(v) for v in value) + "`" if value else "(empty)"
    return f"`{value}`"


def settings_table() -> str:
    """A Markdown table: variable, default, meaning."""
    prefix = Settings.model_config.get("env_prefix", "")
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        description = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{prefix}{name.upper()}` | {_default(field.default)} | {description} |")
    return "\n".join(rows)


def replace_table(text: str) -> str:
    """`text` with the block between the markers replaced by the current table."""
    head, found, rest = text.partition(START)
    if not found:
        raise ValueError(f"no {START} marker")
    _, found_end, tail = rest.partition(END)
    if not found_end:
        raise ValueError(f"no {END} marker")
    return f"{head}{START}\n{settings_table()}\n{END}{tail}"


if __name__ == "__main__":  # pragma: no cover - a maintenance command
    for name in sys.argv[1:]:
        target = Path(name)
        target.write_text(replace_table(target.read_text(encoding="utf-8")), encoding="utf-8")
