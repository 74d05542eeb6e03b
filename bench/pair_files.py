"""Labelled pair files for `bench/cache.py --pairs`: a JSON list of {question, candidate,
same_meaning}, or a public paraphrase table as published, read by its header:

- Quora Question Pairs (`quora_duplicate_questions.tsv`, Kaggle's `train.csv`, GLUE QQP
  `dev.tsv`): question1, question2, is_duplicate;
- PAWS (`dev.tsv`, `test.tsv` of PAWS-Wiki) and GLUE-style tables: sentence1, sentence2,
  label (or noisy_label), 1 meaning "paraphrase";
- MRPC (`msr_paraphrase_test.txt`, GLUE MRPC `dev.tsv`): Quality, #1 String, #2 String;
- STS-B (GLUE STS-B `dev.tsv`, `sts-dev.csv` with that header): sentence1, sentence2, score
  (0-5); a pair means the same when its score is at least `STS_SAME` (4: "mostly
  equivalent, some unimportant details differ").

The first text is the question looked up, the second the cached candidate. `.tsv` and `.txt`
files are tab-separated (quotes inside a cell are text, as MRPC and STS-B write them; a
question1/question2 table keeps CSV quoting, as Quora's file needs), other tables
comma-separated. `rows` keeps a slice of the pairs in file order ("0:786": the first 786);
`half` keeps the tuning ("tune") or held-out ("held") half by a fixed hash of the pair's
texts, the same for any file and any order."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

STS_SAME = 4.0
HALVES = ("tune", "held")
# (question column, candidate column, label column, how a label cell reads as same meaning)
_LAYOUTS: tuple[tuple[str, str, str, str], ...] = (
    ("question1", "question2", "is_duplicate", "flag"),
    ("#1 String", "#2 String", "Quality", "flag"),
    ("sentence1", "sentence2", "label", "flag"),
    ("sentence1", "sentence2", "noisy_label", "flag"),
    ("sentence1", "sentence2", "score", "sts"),
)


class PairFileError(ValueError):
    """The file is not a pair file."""


def _same(cell: str | None, kind: str) -> bool:
    text = str(cell or "").strip()
    if kind == "sts":
        try:
            return float(text) >= STS_SAME
        except ValueError as exc:
            raise PairFileError(f"score {text!r} is not a number") from exc
    return text == "1"


def _table(path: Path) -> list[dict[str, Any]]:
    tabs = path.suffix.lower() in {".tsv", ".txt"}
    csv.field_size_limit(1 << 24)
    text = path.read_text(encoding="utf-8-sig")
    header = next(csv.reader(io.StringIO(text), delimiter="\t" if tabs else ","), [])
    fields = {cell.strip() for cell in header}
    layout = next((lay for lay in _LAYOUTS if set(lay[:3]) <= fields), None)
    if layout is None:
        raise PairFileError(
            "no column question1/question2/is_duplicate, sentence1/sentence2/label"
            " (or score), nor #1 String/#2 String/Quality"
        )
    first, second, label, kind = layout
    quoting = csv.QUOTE_NONE if tabs and first != "question1" else csv.QUOTE_MINIMAL
    reader = csv.DictReader(
        io.StringIO(text, newline=""), delimiter="\t" if tabs else ",", quoting=quoting
    )
    pairs = []
    for row in reader:
        row = {(key or "").strip(): value for key, value in row.items()}
        if row.get(first) is None or row.get(second) is None:
            continue  # a short line (a blank one at the end)
        pairs.append(
            {
                "question": row[first] or "",
                "candidate": row[second] or "",
                "same_meaning": _same(row.get(label), kind),
            }
        )
    return pairs


def half_of(pair: dict[str, Any]) -> str:
    """The half a pair belongs to, from a hash of its two texts."""
    digest = hashlib.sha256(f"{pair['question']}\x1f{pair['candidate']}".encode()).digest()
    return HALVES[digest[0] % 2]


def load(path: Path, rows: str | None = None, half: str | None = None) -> list[dict[str, Any]]:
    """The pairs of `path`, sliced by `rows` ("START:END") then kept to one `half`;
    PairFileError if unreadable."""
    try:
        if path.suffix.lower() in {".tsv", ".csv", ".txt"}:
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
    if half is not None:
        if half not in HALVES:
            raise PairFileError(f"--half {half!r} is not one of {', '.join(HALVES)}")
        pairs = [pair for pair in pairs if half_of(pair) == half]
    return pairs
