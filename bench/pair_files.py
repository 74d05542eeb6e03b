"""Labelled pair files for `bench/cache.py --pairs`: a JSON list of {question, candidate,
same_meaning}, or a public question-pair table as published (Quora Question Pairs'
`quora_duplicate_questions.tsv`, or a CSV such as Kaggle's `train.csv`): columns question1,
question2 and is_duplicate, read as question, candidate and same_meaning. `rows` keeps a
slice of the pairs in file order ("0:786": the first 786)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any


class PairFileError(ValueError):
    """The file is not a pair file."""


def _table(path: Path) -> list[dict[str, Any]]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    csv.field_size_limit(1 << 24)
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        missing = {"question1", "question2", "is_duplicate"} - set(reader.fieldnames or [])
        if missing:
            raise PairFileError(f"no column {', '.join(sorted(missing))}")
        return [
            {
                "question": row["question1"] or "",
                "candidate": row["question2"] or "",
                "same_meaning": str(row["is_duplicate"]).strip() == "1",
            }
            for row in reader
        ]


def load(path: Path, rows: str | None = None) -> list[dict[str, Any]]:
    """The pairs of `path`, sliced by `rows` ("START:END"); PairFileError if unreadable."""
    try:
        if path.suffix.lower() in {".tsv", ".csv"}:
            pairs = _table(path)
        else:
            pairs = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(pairs, list):
            raise PairFileError("not a list")
        for pair in pairs:
            if not isinstance(pair["question"], str) or not isinstance(pair["candidate"], str):
                raise PairFileError("question and candidate must be strings")
            pair["same_meaning"] = bool(pair["same_meaning"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PairFileError(str(exc)) from exc
    if rows is not None:
        start, sep, end = rows.partition(":")
        if not sep or not (start or end).strip():
            raise PairFileError(f"--rows {rows!r} is not START:END")
        try:
            pairs = pairs[int(start) if start else None : int(end) if end else None]
        except ValueError as exc:
            raise PairFileError(f"--rows {rows!r} is not START:END") from exc
    return pairs
