"""`bench/pair_files.py` reads the published layouts of public paraphrase sets (Quora Question
Pairs, PAWS, MRPC, STS-B) as question/candidate/same_meaning pairs, and splits any file into
two halves by a fixed hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.bench import load_bench

pair_files = load_bench("pair_files")


def write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_paws_layout(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "dev.tsv",
        [
            "id\tsentence1\tsentence2\tlabel",
            '1\tIn Paris , " he " met them .\tHe met them in Paris .\t1',
            "2\tFlights from New York to Florida .\tFlights from Florida to New York .\t0",
        ],
    )
    pairs = pair_files.load(path)
    assert [p["same_meaning"] for p in pairs] == [True, False]
    assert pairs[0]["question"] == 'In Paris , " he " met them .'  # a quote is text
    assert pairs[1]["candidate"] == "Flights from Florida to New York ."


def test_mrpc_layout_with_unbalanced_quotes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "msr_paraphrase_test.txt",
        [
            "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String",
            "1\t1\t2\tHe said the business doesn't fit.\t\"The business does not fit.",
            "0\t3\t4\tThe dollar was flat.\tThe dollar fell 0.1 percent.",
        ],
    )
    pairs = pair_files.load(path)
    assert len(pairs) == 2
    assert pairs[0] == {
        "question": "He said the business doesn't fit.",
        "candidate": '"The business does not fit.',
        "same_meaning": True,
    }
    assert pairs[1]["same_meaning"] is False


def test_sts_scores_count_from_mostly_equivalent(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sts-dev.tsv",
        [
            "index\tgenre\tsentence1\tsentence2\tscore",
            "0\tcaptions\tA man is playing a guitar.\tA man plays the guitar.\t5.000",
            "1\tcaptions\tA man is eating food.\tA man is eating something.\t4.0",
            "2\tcaptions\tA woman is playing the guitar.\tA man is playing guitar.\t2.400",
            "3\tcaptions\tA plane is landing.\tA animated airplane is landing.\t3.999",
        ],
    )
    assert [p["same_meaning"] for p in pair_files.load(path)] == [True, True, False, False]
    bad = write(tmp_path, "bad.tsv", ["sentence1\tsentence2\tscore", "a\tb\thigh"])
    with pytest.raises(pair_files.PairFileError, match="not a number"):
        pair_files.load(bad)


def test_quora_layout_still_keeps_csv_quoting(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "train.csv",
        [
            '"id","qid1","qid2","question1","question2","is_duplicate"',
            '"0","1","2","What is 1, 2, 3?","What comes after 1, 2?","0"',
            '"1","3","4","How do I learn Python?","How can I learn Python?","1"',
        ],
    )
    pairs = pair_files.load(path)
    assert pairs[0]["question"] == "What is 1, 2, 3?"
    assert [p["same_meaning"] for p in pairs] == [False, True]


def test_an_unknown_table_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "other.tsv", ["a\tb\tc", "1\t2\t3"])
    with pytest.raises(pair_files.PairFileError, match="no column"):
        pair_files.load(path)


def test_halves_split_by_a_fixed_hash(tmp_path: Path) -> None:
    lines = ["id\tsentence1\tsentence2\tlabel"]
    lines += [f"{n}\tQuestion number {n}?\tAnother question {n}?\t{n % 2}" for n in range(200)]
    path = write(tmp_path, "dev.tsv", lines)
    every = pair_files.load(path)
    tune, held = pair_files.load(path, half="tune"), pair_files.load(path, half="held")
    assert len(tune) + len(held) == 200 and 60 < len(tune) < 140
    assert {p["question"] for p in tune}.isdisjoint({p["question"] for p in held})
    # the same pair lands in the same half whatever the file order or the slice
    reordered = write(tmp_path, "reordered.tsv", [lines[0], *reversed(lines[1:])])
    assert {p["question"] for p in pair_files.load(reordered, half="tune")} == {
        p["question"] for p in tune
    }
    assert pair_files.load(path, rows="0:10", half="held") == [
        p for p in every[:10] if pair_files.half_of(p) == "held"
    ]
    with pytest.raises(pair_files.PairFileError, match="--half"):
        pair_files.load(path, half="middle")
