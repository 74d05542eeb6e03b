"""bench/answers.py --replay: the answerer asked again on recorded passages gives the
verdicts a live run would (facts, citation, refusal)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.bench import load_bench

answers = load_bench("answers")

_POOL = (
    "# Connection pool\n\n## Sizing\n\n"
    "The pool keeps 5 connections open. Under load it grows to RAGOPS_DB_POOL_MAX (20)."
)


def _passage(text: str, section: str, source: str) -> dict[str, object]:
    return {
        "chunk_id": "c1",
        "document_id": "d1",
        "version": 1,
        "title": "Database",
        "section": section,
        "text": text,
        "start": 0,
        "end": len(text),
        "ordinal": 0,
        "score": 0.6,
        "fused_score": 1.0,
        "payload": {"quoted": []},
        "point_id": "c1",
        "source": source,
    }


def test_replay_checks_each_recorded_answer(tmp_path: Path) -> None:
    questions = [
        answers.Question(
            id="pool-max",
            question="How far does the connection pool grow under load?",
            kind="value",
            split="tune",
            facts=(("RAGOPS_DB_POOL_MAX",),),
            document="database.md",
            section="Sizing",
        ),
        answers.Question(
            id="pool-colour",
            question="How far does the connection pool grow under load?",
            kind="value",
            split="tune",
            facts=(("purple",),),
            document="database.md",
            section="Sizing",
        ),
        answers.Question(id="oos", question="Who won the cup?", kind="out_of_scope", split="tune"),
        answers.Question(id="unrecorded", question="?", kind="out_of_scope", split="tune"),
    ]
    record = tmp_path / "record.json"
    passage = _passage(_POOL, "Connection pool > Sizing", "database.md")
    record.write_text(
        json.dumps(
            {
                "pool-max": {"question": questions[0].question, "passages": [passage]},
                "pool-colour": {"question": questions[1].question, "passages": [passage]},
                "oos": {"question": "Who won the cup?", "passages": []},
            }
        ),
        encoding="utf-8",
    )

    outcomes = {o.question.id: o for o in answers.replay(questions, record)}

    assert set(outcomes) == {"pool-max", "pool-colour", "oos"}
    hit = outcomes["pool-max"]
    assert hit.facts_ok and hit.citation_ok and "[1]" in hit.answer
    assert hit.cited == [("database.md", "Connection pool > Sizing")]
    assert not outcomes["pool-colour"].facts_ok and outcomes["pool-colour"].missing == ["purple"]
    assert outcomes["oos"].refused
