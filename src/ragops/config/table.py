"""Render the settings as the Markdown table the README shows, so the documentation is
generated from the one settings class and a test keeps the two identical.

`python -m ragops.config.table README.md .env.example` rewrites the table between the README's
markers and the commented example environment file.
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


def _example_value(value: object) -> str:
    if value is None or isinstance(value, SecretStr):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def env_example() -> str:
    """`.env.example`: every variable, commented out, at its default; secrets left empty."""
    prefix = Settings.model_config.get("env_prefix", "")
    lines = [
        "# ragops settings: copy to .env and uncomment what you change. Never commit real secrets.",
        "",
    ]
    for name, field in Settings.model_fields.items():
        lines.append(f"# {field.description}")
        lines.append(f"# {prefix}{name.upper()}={_example_value(field.default)}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - a maintenance command
    for name in sys.argv[1:]:
        target = Path(name)
        if target.name == ".env.example":
            target.write_text(env_example(), encoding="utf-8")
        else:
            text = target.read_text(encoding="utf-8")
            target.write_text(replace_table(text), encoding="utf-8")
