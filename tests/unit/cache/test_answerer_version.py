"""The extractive answerer's version is part of the answer cache's key: an answer cached by
older rules is not served once the rules that made it change."""

from __future__ import annotations

import pytest

from ragops.cache import keys
from ragops.config import Settings


def test_a_new_answerer_version_changes_the_extractive_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    before = keys.fingerprint(settings, prompt="p", embedder_model="m")
    monkeypatch.setattr(keys, "ANSWERER_VERSION", keys.ANSWERER_VERSION + 1)
    assert keys.fingerprint(settings, prompt="p", embedder_model="m") != before


def test_generated_answers_do_not_depend_on_it(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(_env_file=None, llm_base_url="http://llm.example/v1")  # type: ignore[call-arg]
    before = keys.fingerprint(settings, prompt="p", embedder_model="m")
    monkeypatch.setattr(keys, "ANSWERER_VERSION", keys.ANSWERER_VERSION + 1)
    assert keys.fingerprint(settings, prompt="p", embedder_model="m") == before
