"""What the answer cache's key depends on: a release whose rules answer differently, or another
answer mode, serves no entry another one cached."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragops.cache.keys import exact_key, fingerprint
from ragops.config.settings import Settings


def key(settings: Settings, *, rules: str) -> str:
    return exact_key(
        tenant_id="t",
        collection="c",
        version=3,
        fingerprint=fingerprint(settings, prompt="p", embedder_model="m", rules=rules),
        question="How do I roll back?",
        query="How do I roll back?",
    )


def test_the_answering_rules_are_part_of_the_key() -> None:
    settings = Settings(_env_file=None)
    assert key(settings, rules="2026-12-05") == key(settings, rules="2026-12-05")
    assert key(settings, rules="2026-12-05") != key(settings, rules="2026-12-06")


def test_the_answer_mode_is_part_of_the_key() -> None:
    extractive = Settings(_env_file=None)
    generated = Settings(_env_file=None, llm_base_url="http://127.0.0.1:9/v1")
    assert key(extractive, rules="r") != key(generated, rules="r")


def test_the_second_embedder_is_part_of_the_key() -> None:
    """Turning the second embedder on (or moving its floor) changes what retrieval keeps, so
    an answer cached without it is not served with it."""
    plain = Settings(_env_file=None)
    second = Settings(_env_file=None, second_embedder="bge-small")
    lower = Settings(_env_file=None, second_embedder="bge-small", second_score_floor=0.5)
    keys = {key(s, rules="r") for s in (plain, second, lower)}
    assert len(keys) == 3


@pytest.mark.parametrize("version", ["ANSWERER_VERSION", "CITATIONS_VERSION"])
def test_the_built_cache_keys_on_the_answerer_and_citations_versions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    """`create_answer_cache` hands the answering rules' and the citations' versions to the
    fingerprint: a release that raises `ANSWERER_VERSION` (what is answered) or
    `CITATIONS_VERSION` (what a citation shows, e.g. its snippet redacted) serves no entry
    cached by the one before, in either mode."""
    from ragops.cache import factory
    from ragops.db import Database
    from ragops.providers.cache.memory import MemoryCache

    class Model:
        model_id = "m"

    def built(settings: Settings) -> str:
        answers = factory.create_answer_cache(
            settings,
            db=Database(settings),
            cache=MemoryCache(),
            embedder=Model(),  # type: ignore[arg-type]  # only its model id is read
        )
        assert answers is not None
        return answers.fingerprint

    for update in ({}, {"llm_base_url": "http://127.0.0.1:9/v1"}):
        settings = Settings(
            _env_file=None, data_dir=tmp_path / "var", semantic_cache=False, **update
        )
        before = built(settings)
        monkeypatch.setattr(factory, version, getattr(factory, version) + 1)
        assert built(settings) != before
        monkeypatch.undo()
