"""The README's settings table and `.env.example` are generated from the one Settings class;
these tests fail when a setting is added, removed or re-described without regenerating them
(`python -m ragops.config.table README.md .env.example`)."""

from __future__ import annotations

import pytest

from ragops.config.settings import Settings
from ragops.config.table import END, START, env_example, settings_table
from tests.conftest import REPO_ROOT


def test_readme_table_is_current() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split(START, 1)[1].split(END, 1)[0].strip()
    assert block == settings_table()


def test_env_example_is_current_and_holds_no_secret_value() -> None:
    text = (REPO_ROOT / ".env.example").read_text(encoding="utf-8")
    assert text == env_example()
    secret_fields = [
        name
        for name, field in Settings.model_fields.items()
        if "SecretStr" in str(field.annotation)
    ]
    assert "llm_api_key" in secret_fields and "sentry_dsn" in secret_fields
    for name in secret_fields:
        assert f"# RAGOPS_{name.upper()}=\n" in text, name


def test_every_setting_is_documented() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no description"
        assert f"RAGOPS_{name.upper()}" in settings_table()


def test_invalid_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGOPS_DEFAULT_COLLECTION", "Not A Name")
    with pytest.raises(ValueError, match="collection names"):
        Settings(_env_file=None)  # type: ignore[call-arg]
