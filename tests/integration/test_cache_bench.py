"""`bench/cache.py --pairs FILE --json` scores any pair file by the documented procedure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

PAIRS = [
    {
        "question": "How can I rotate my API key?",
        "candidate": "How do I rotate an API key?",
        "same_meaning": True,
    },
    {
        "question": "How do I revoke an API key?",
        "candidate": "How do I rotate an API key?",
        "same_meaning": False,
    },
    {
        "question": "What is the capital of France?",
        "candidate": "What is the capital of France",
        "same_meaning": True,
    },
    {
        "question": "Why is the sky blue?",
        "candidate": "How do volcanoes form?",
        "same_meaning": False,
    },
]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "cache.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_pairs_file_is_scored(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.json"
    pairs.write_text(json.dumps(PAIRS))
    result = run("--pairs", str(pairs), "--json")
    assert result.returncode == 0, result.stderr
    scored = json.loads(result.stdout)
    assert set(scored) == {"pairs", "right_hits", "wrong_hits", "misses", "threshold"}
    assert scored["pairs"] == 4
    assert scored["right_hits"] + scored["wrong_hits"] + scored["misses"] == 4
    assert scored["right_hits"] == 2 and scored["wrong_hits"] == 0  # exact + paraphrase


def test_a_question_cached_as_another_pairs_candidate_is_a_right_hit(tmp_path: Path) -> None:
    """Public pair sets reuse questions across pairs: the exact cached copy of the question
    itself is its right answer, whatever its own pair's label."""
    pairs = tmp_path / "pairs.json"
    pairs.write_text(
        json.dumps(
            [
                {
                    "question": "Why is the sea salty?",
                    "candidate": "Why is the Dead Sea so salty?",
                    "same_meaning": False,
                },
                {
                    "question": "What makes sea water salty?",
                    "candidate": "Why is the sea salty?",
                    "same_meaning": True,
                },
            ]
        )
    )
    result = run("--pairs", str(pairs), "--json")
    assert result.returncode == 0, result.stderr
    scored = json.loads(result.stdout)
    assert scored["wrong_hits"] == 0 and scored["right_hits"] >= 1


def test_a_public_pair_table_is_read_as_published(tmp_path: Path) -> None:
    """A Quora Question Pairs style table (question1, question2, is_duplicate; tab- or
    comma-separated) scores like the same pairs as JSON, and --rows keeps a slice."""
    table = tmp_path / "pairs.tsv"
    lines = ["id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate"]
    for number, pair in enumerate(PAIRS):
        cells = [number, 2 * number, 2 * number + 1, pair["question"], pair["candidate"]]
        lines.append("\t".join(str(cell) for cell in [*cells, int(pair["same_meaning"])]))
    table.write_text("\n".join(lines) + "\n")
    as_json = tmp_path / "pairs.json"
    as_json.write_text(json.dumps(PAIRS))
    scored = [json.loads(run("--pairs", str(f), "--json").stdout) for f in (table, as_json)]
    assert scored[0] == scored[1]
    sliced = json.loads(run("--pairs", str(table), "--rows", "0:2", "--json").stdout)
    assert sliced["pairs"] == 2
    bad = run("--pairs", str(table), "--rows", "two", "--json")
    assert bad.returncode != 0 and "START:END" in bad.stderr and "Traceback" not in bad.stderr


def test_a_bad_pairs_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"question": "not a list"}')
    result = run("--pairs", str(bad), "--json")
    assert result.returncode != 0 and "is not a JSON list" in result.stderr
    assert "Traceback" not in result.stderr


def test_calibration_holds_on_the_held_out_half() -> None:
    """The product's thresholds are at least as strict as the ones `--calibrate` derives from
    the bundled tuning half (they also come from a public pair set that is not shipped: see
    docs/caching.md), and at each the bundled held-out half's wrong-hit rate stays within the
    tolerated rate."""
    from ragops.cache.matching import CALIBRATION

    result = run("--calibrate", "--json")
    assert result.returncode == 0, result.stderr
    found = {entry["max_error"]: entry for entry in json.loads(result.stdout)["calibration"]}
    for max_error, threshold in CALIBRATION[1:]:
        assert found[max_error]["threshold"] <= threshold
        scored = run("--max-error", str(max_error), "--json")
        assert scored.returncode == 0, scored.stderr
        report = json.loads(scored.stdout)
        assert report["threshold"] == threshold
        assert report["holdout"]["pairs"]["wrong_hit_rate"] <= max_error


def test_calibration_takes_an_extra_pair_set(tmp_path: Path) -> None:
    """`--calibrate --pairs FILE` adds the file's even rows to the tuning half and reports
    its odd rows with the held-out half."""
    pairs = tmp_path / "pairs.json"
    pairs.write_text(json.dumps(PAIRS))
    result = run("--calibrate", "--pairs", str(pairs), "--json")
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stdout)["calibration"][0]
    tuned, held = entry["tuning"]["sets"], entry["holdout"]["sets"]
    assert [s["pairs"] for s in tuned[1:]] == [2] and [s["pairs"] for s in held[1:]] == [2]
    assert entry["tuning"]["pairs"] == tuned[0]["pairs"] + 2


def test_a_paws_table_is_scored_and_halved(tmp_path: Path) -> None:
    """A PAWS/GLUE-style table (sentence1, sentence2, label) scores like the same pairs as
    JSON; --half keeps the pairs of one hash half, the two halves adding up to the file."""
    table = tmp_path / "dev.tsv"
    lines = ["id\tsentence1\tsentence2\tlabel"]
    for number, pair in enumerate(PAIRS):
        lines.append(
            f"{number}\t{pair['question']}\t{pair['candidate']}\t{int(pair['same_meaning'])}"
        )
    table.write_text("\n".join(lines) + "\n")
    as_json = tmp_path / "pairs.json"
    as_json.write_text(json.dumps(PAIRS))
    scored = [json.loads(run("--pairs", str(f), "--json").stdout) for f in (table, as_json)]
    assert scored[0] == scored[1]
    halves = [
        json.loads(run("--pairs", str(table), "--half", half, "--json").stdout)
        for half in ("tune", "held")
    ]
    assert halves[0]["pairs"] + halves[1]["pairs"] == 4
