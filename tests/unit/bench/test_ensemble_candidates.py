"""`bench/ensemble_candidates.py`: its weight triples (BM25, MiniLM, bge) and its defaults,
which hold both two-list baselines beside the three-list variants."""

from __future__ import annotations

import argparse

import pytest

from tests.unit.bench import load_bench

ensemble = load_bench("ensemble_candidates")


def test_weights_are_bm25_minilm_bge_triples() -> None:
    assert ensemble.parse_weights("1,0.5,0.5") == (1.0, 0.5, 0.5)
    assert ensemble.parse_weights("0,1,2") == (0.0, 1.0, 2.0)


@pytest.mark.parametrize("text", ["1,1", "1,1,1,1", "1,-1,1", "0,0,0"])
def test_bad_weights_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="three weights"):
        ensemble.parse_weights(text)


def test_bad_weights_on_the_command_line_exit_with_a_message(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        ensemble.parse_args(["--dataset", "d", "--weights", "1,1"])
    assert stop.value.code == 2
    assert "BM25,MiniLM,bge" in capsys.readouterr().err


def test_defaults_hold_both_baselines_and_the_bge_cut() -> None:
    args = ensemble.parse_args(["--dataset", "d"])
    assert (1.0, 1.0, 0.0) in args.weights  # the default hybrid
    assert (1.0, 0.0, 1.0) in args.weights  # the bge hybrid measured before
    assert (1.0, 1.0, 1.0) in args.weights and (0.0, 1.0, 1.0) in args.weights
    assert args.doc_max == 256 and args.threads == 2 and args.model_dir is None
    assert ensemble.FLOOR == 0.25
    assert not args.batched_questions  # each question alone, as the retriever embeds it
