"""What the answer cache's key depends on: a release whose rules answer differently, or another
answer mode, serves no entry another one cached."""

from __future__ import annotations

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
