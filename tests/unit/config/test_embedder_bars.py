"""The cosine bars (`score_floor`, `scope_cosine`) default to the embedder's own values
(`EMBEDDER_BARS`; the fields' defaults, chosen on MiniLM, for the others), and a value given
as a setting or environment variable wins."""

from __future__ import annotations

import pytest

from ragops.cache.keys import fingerprint
from ragops.config.retrieval import EMBEDDER_BARS
from ragops.config.settings import Settings

MINILM = {"score_floor": 0.25, "scope_cosine": 0.4}


@pytest.fixture(autouse=True)
def _no_bar_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAGOPS_SCORE_FLOOR", raising=False)
    monkeypatch.delenv("RAGOPS_SCOPE_COSINE", raising=False)


def bars(settings: Settings) -> dict[str, float]:
    return {"score_floor": settings.score_floor, "scope_cosine": settings.scope_cosine}


@pytest.mark.parametrize("embedder", ["onnx-minilm", "openai"])
def test_minilm_and_the_api_keep_the_bars_chosen_on_minilm(embedder: str) -> None:
    assert embedder not in EMBEDDER_BARS
    assert bars(Settings(_env_file=None, embedder=embedder)) == MINILM
    assert bars(Settings(_env_file=None)) == MINILM


def test_bge_small_gets_its_own_bars_when_none_is_given() -> None:
    own = EMBEDDER_BARS["bge-small"]
    assert own["score_floor"] > MINILM["score_floor"]  # its cosines sit higher
    assert own["scope_cosine"] > MINILM["scope_cosine"]
    assert bars(Settings(_env_file=None, embedder="bge-small")) == own


def test_a_given_bar_wins_over_the_embedders_own() -> None:
    settings = Settings(_env_file=None, embedder="bge-small", score_floor=0.25)
    assert bars(settings) == {
        "score_floor": 0.25,  # given, though it is the field's default
        "scope_cosine": EMBEDDER_BARS["bge-small"]["scope_cosine"],
    }
    settings = Settings(_env_file=None, embedder="bge-small", scope_cosine=0.5)
    assert bars(settings) == {
        "score_floor": EMBEDDER_BARS["bge-small"]["score_floor"],
        "scope_cosine": 0.5,
    }


def test_an_environment_variable_wins_over_the_embedders_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RAGOPS_EMBEDDER", "bge-small")
    monkeypatch.setenv("RAGOPS_SCORE_FLOOR", "0.3")
    monkeypatch.setenv("RAGOPS_SCOPE_COSINE", "0.45")
    assert bars(Settings(_env_file=None)) == {"score_floor": 0.3, "scope_cosine": 0.45}
    monkeypatch.delenv("RAGOPS_SCOPE_COSINE")
    settings = Settings(_env_file=None)
    assert bars(settings) == {
        "score_floor": 0.3,
        "scope_cosine": EMBEDDER_BARS["bge-small"]["scope_cosine"],
    }


def test_the_scope_bar_is_part_of_the_answer_cache_key() -> None:
    def key(**values: float) -> str:
        settings = Settings(_env_file=None, **values)  # type: ignore[arg-type]
        return fingerprint(settings, prompt="p", embedder_model="m")

    assert key(scope_cosine=0.4) != key(scope_cosine=0.7)
    assert key(score_floor=0.25) != key(score_floor=0.6)
