"""Answer-quality benchmark of the extractive answerer on the demo corpus (the repo's docs/).

    python bench/answers.py [--set bench/data/answers.yaml] [--split tune|holdout|all]
                            [--json] [--show]

Ingests docs/ into a fresh embedded instance in a temporary directory (SQLite, local Qdrant,
the configured embedder) exactly as the first start of `make run` does, then asks every
question of the labelled set through the chat service (follow-ups in the session of the
questions they follow) and checks each answer:

- answer accuracy: an in-scope answer holds every fact of its label (case-insensitive, markdown
  emphasis and backticks ignored; a fact given as a list is met by any one of its spellings);
- citation accuracy: an in-scope answer cites the labelled section (document path under docs/
  and a heading of the cited passage's heading path);
- refusal accuracy: an out-of-scope question gets the "could not find" answer and no citation.

It prints the three accuracies per split (`tune`, the questions used to make choices, and
`holdout`, the rest), for each named group of questions (`generalisation`: questions written
and labelled before the answerer was run on them), and the generation latency (p50/p95 of
`timings.generate_ms`). `--json`
prints {"questions", "answer_accuracy", "citation_accuracy", "refusal_accuracy", ...} for the
chosen split, as fractions.

`--record FILE` also writes, for every question, the passages the answerer was given (after
retrieval, the added sections and the scope check) to FILE (JSON); `--replay FILE` then asks
the extractive answerer again on those passages, without ingesting or retrieving anything, and
prints the same figures: a change to the answerer alone (`chat.extractive` and the modules it
uses) is measured in seconds this way. The replay's latency is the answerer's alone.

`--halves` also prints the holdout's `select` half (id's CRC-32 even: make choices there) and
`other` half (the rest: the verdict).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import re
import statistics
import sys
import tempfile
import time
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SET = ROOT / "bench" / "data" / "answers.yaml"
DOCS = ROOT / "docs"
TENANT = "default"
_MARKUP = re.compile(r"[`*_]")


@dataclass(frozen=True, slots=True)
class Question:
    """One labelled question."""

    id: str
    question: str
    kind: str
    split: str
    facts: tuple[tuple[str, ...], ...] = ()
    document: str | None = None
    section: str | None = None
    also: tuple[tuple[str, str], ...] = ()
    """Other (document, heading) pairs that answer the question as well."""
    history: tuple[str, ...] = ()
    group: str = ""
    """A named subset reported on its own row as well (`generalisation`)."""

    @property
    def in_scope(self) -> bool:
        return self.kind != "out_of_scope"


@dataclass(slots=True)
class Outcome:
    """What one question got."""

    question: Question
    answer: str
    cited: list[tuple[str, str]]
    generate_ms: float
    facts_ok: bool = False
    citation_ok: bool = False
    refused: bool = False
    missing: list[str] = field(default_factory=list)


def load_set(path: Path) -> list[Question]:
    """The labelled questions of `path` (see bench/data/answers.yaml for the layout)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    questions = []
    for item in raw["questions"]:
        facts = tuple(tuple(f) if isinstance(f, list) else (str(f),) for f in item.get("facts", []))
        cite = item.get("cite") or {}
        questions.append(
            Question(
                id=str(item["id"]),
                question=str(item["question"]),
                kind=str(item["kind"]),
                split=str(item["split"]),
                facts=facts,
                document=cite.get("document"),
                section=cite.get("section"),
                also=tuple((str(d), str(h)) for d, h in cite.get("also", [])),
                history=tuple(item.get("history", [])),
                group=str(item.get("group", "")),
            )
        )
    return questions


def _flat(text: str) -> str:
    return " ".join(_MARKUP.sub("", text).lower().split())


def check(outcome: Outcome, refusal_text: str) -> None:
    """Fill in the verdicts of one outcome."""
    q = outcome.question
    outcome.refused = not outcome.cited or outcome.answer.strip() == refusal_text
    if not q.in_scope:
        return
    flat = _flat(outcome.answer)
    outcome.missing = [f[0] for f in q.facts if not any(_flat(alt) in flat for alt in f)]
    outcome.facts_ok = not outcome.refused and not outcome.missing
    wanted = [(q.document, q.section), *q.also]
    outcome.citation_ok = any(
        source == document and heading in section.split(" > ")
        for source, section in outcome.cited
        for document, heading in wanted
    )


def percentile(values: list[float], share: float) -> float:
    """The `share` percentile (nearest rank) of `values`."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary(outcomes: list[Outcome]) -> dict[str, Any]:
    """Accuracies (fractions) and generation latency of a list of outcomes."""
    inside = [o for o in outcomes if o.question.in_scope]
    outside = [o for o in outcomes if not o.question.in_scope]
    latency = [o.generate_ms for o in outcomes]

    def share(hits: int, total: int) -> float:
        return round(hits / total, 4) if total else 0.0

    return {
        "questions": len(outcomes),
        "in_scope": len(inside),
        "out_of_scope": len(outside),
        "answer_accuracy": share(sum(o.facts_ok for o in inside), len(inside)),
        "citation_accuracy": share(sum(o.citation_ok for o in inside), len(inside)),
        "refusal_accuracy": share(sum(o.refused for o in outside), len(outside)),
        "generate_ms_p50": round(statistics.median(latency), 2) if latency else 0.0,
        "generate_ms_p95": round(percentile(latency, 0.95), 2),
    }


class _Recorder:
    """The extractive answerer, noting the passages of each answer it gives."""

    def __init__(self, answerer: Any) -> None:
        self.answerer = answerer
        self.calls: list[tuple[str, list[Any]]] = []

    def answer_now(self, question: str, passages: Any, **options: Any) -> Any:
        self.calls.append((question, list(passages)))
        return self.answerer.answer_now(question, passages, **options)


def _passage_record(passage: Any, source: str) -> dict[str, Any]:
    return {**dataclasses.asdict(passage), "source": source}


async def run(
    questions: list[Question],
    data_dir: Path,
    record: Path | None = None,
    sentence_floor: bool = False,
) -> list[Outcome]:
    """Ingest docs/ into a fresh instance under `data_dir` and ask every question (with
    `record`, the passages of each answer are written there: see `replay`)."""
    from ragops.chat import service as chat
    from ragops.chat.extractive import NOT_FOUND_ANSWER
    from ragops.config import Settings
    from ragops.db import migrate
    from ragops.documents import batch as documents
    from ragops.documents import catalog
    from ragops.documents.files import collect_files, source_name
    from ragops.observability.logging import configure_logging
    from ragops.runtime import Runtime

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=data_dir,
        demo_corpus=False,
        log_level="WARNING",
        bootstrap_api_key=False,
    )
    configure_logging(settings)
    await migrate.upgrade(settings)
    runtime = await Runtime.start(settings)
    runtime.retriever.sentence_floor = sentence_floor
    try:
        files = [(source_name(p, DOCS), p.read_bytes(), None) for p in collect_files([DOCS])]
        await documents.ingest_batch(
            runtime.ingest_deps,
            tenant_id=TENANT,
            collection=settings.default_collection,
            files=files,
            trusted=True,  # as the demo corpus of `make run` is
        )
        listing = await catalog.list_documents(db=runtime.db, tenant_id=TENANT, limit=1000)
        sources = {item.id: item.source for item in listing.items}
        deps = runtime.chat_deps
        recorder = _Recorder(deps.generator.extractive)
        deps.generator.extractive = recorder  # type: ignore[assignment]
        outcomes = []
        recorded: dict[str, Any] = {}
        for q in questions:
            session_id = None
            for earlier in q.history:
                previous = await chat.answer(
                    deps,
                    tenant_id=TENANT,
                    question=earlier,
                    session_id=session_id,
                    collection=None,
                    request_id=uuid.uuid4().hex,
                )
                session_id = previous.session_id
            response = await chat.answer(
                deps,
                tenant_id=TENANT,
                question=q.question,
                session_id=session_id,
                collection=None,
                request_id=uuid.uuid4().hex,
            )
            outcome = Outcome(
                question=q,
                answer=response.answer,
                cited=[(sources.get(c.document_id, "?"), c.section) for c in response.citations],
                generate_ms=response.timings.generate_ms,
            )
            check(outcome, NOT_FOUND_ANSWER)
            outcomes.append(outcome)
            if recorder.calls:
                asked, passages = recorder.calls[-1]
                recorded[q.id] = {
                    "question": asked,
                    "passages": [
                        _passage_record(p, sources.get(p.document_id, "?")) for p in passages
                    ],
                }
            recorder.calls.clear()
        if record is not None:
            record.write_text(json.dumps(recorded), encoding="utf-8")
        return outcomes
    finally:
        await runtime.aclose()


def replay(questions: list[Question], record: Path) -> list[Outcome]:
    """Ask the extractive answerer again on the passages `run` recorded for each question
    (a question without a record, answered from the cache, is left out)."""
    from ragops.chat.citations import renumber_citations
    from ragops.chat.extractive import NOT_FOUND_ANSWER, ExtractiveAnswerer
    from ragops.retrieval.service import Passage

    fields = {f.name for f in dataclasses.fields(Passage)}
    recorded = json.loads(record.read_text(encoding="utf-8"))
    answerer = ExtractiveAnswerer()
    outcomes = []
    for q in questions:
        item = recorded.get(q.id)
        if item is None:
            continue
        passages = [
            Passage(**{k: v for k, v in p.items() if k in fields}) for p in item["passages"]
        ]
        started = time.perf_counter()
        result = answerer.answer_now(item["question"], passages)
        text = renumber_citations(result.text, result.cited)
        elapsed = (time.perf_counter() - started) * 1000
        cited = [
            (item["passages"][n - 1]["source"], item["passages"][n - 1]["section"])
            for n in result.cited
        ]
        outcome = Outcome(question=q, answer=text, cited=cited, generate_ms=elapsed)
        check(outcome, NOT_FOUND_ANSWER)
        outcomes.append(outcome)
    return outcomes


def show(outcome: Outcome) -> str:
    """One outcome, for reading."""
    q = outcome.question
    marks = ("A" if outcome.facts_ok else "-") + ("C" if outcome.citation_ok else "-")
    if not q.in_scope:
        marks = "R " if outcome.refused else "!R"
    lines = [f"[{marks}] {q.id} ({q.kind}, {q.split}) {q.question}"]
    if q.in_scope:
        lines.append(f"      want {q.document} # {q.section}; missing {outcome.missing}")
    lines.append(f"      cited {outcome.cited}  {outcome.generate_ms:.1f} ms")
    lines.extend("      | " + line for line in outcome.answer.splitlines())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", type=Path, default=DEFAULT_SET, help="labelled questions")
    parser.add_argument("--split", choices=("tune", "holdout", "all"), default="all")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--show", action="store_true", help="print every answer")
    parser.add_argument("--only", default="", help="comma-separated question ids to ask")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help=(
            "keep the instance here (reused when it exists); after docs/ changed, the changed "
            "documents are re-ingested into it, and its order of documents and the engine's "
            "index differ from a fresh ingest, which can move close rankings: compare "
            "figures from fresh runs"
        ),
    )
    parser.add_argument(
        "--record", type=Path, help="write the passages of every answer to this JSON file"
    )
    parser.add_argument(
        "--replay",
        type=Path,
        help="answer again from the passages of a --record file (no ingestion, no retrieval)",
    )
    parser.add_argument(
        "--sentence-floor",
        action="store_true",
        help="experiment (with RAGOPS_SENTENCE_VECTORS=true): the floor judges a passage by "
        "the better of its cosine and its best sentence's (Retriever.sentence_floor)",
    )
    parser.add_argument("--halves", action="store_true", help="holdout's select/other halves")
    args = parser.parse_args(argv)

    questions = load_set(args.set)
    if args.split != "all":
        questions = [q for q in questions if q.split == args.split]
    if args.only:
        wanted = set(args.only.split(","))
        questions = [q for q in questions if q.id in wanted]
    if args.replay is not None:
        outcomes = replay(questions, args.replay)
    elif args.data_dir is not None:
        outcomes = asyncio.run(run(questions, args.data_dir, args.record, args.sentence_floor))
    else:
        with tempfile.TemporaryDirectory(prefix="ragops-bench-answers-") as tmp:
            outcomes = asyncio.run(
                run(questions, Path(tmp) / "var", args.record, args.sentence_floor)
            )

    if args.show:
        for outcome in outcomes:
            print(show(outcome))
    splits = {
        name: [o for o in outcomes if o.question.split == name] for name in ("tune", "holdout")
    }
    for name, parity in (("select", 0), ("other", 1)) if args.halves else ():
        splits[name] = [
            o for o in splits["holdout"] if zlib.crc32(o.question.id.encode()) % 2 == parity
        ]
    figures = {name: summary(items) for name, items in splits.items() if items}
    groups = sorted({o.question.group for o in outcomes if o.question.group})
    extra = {name: summary([o for o in outcomes if o.question.group == name]) for name in groups}
    overall = summary(outcomes)
    if args.json:
        print(json.dumps({**overall, "splits": figures, "groups": extra}))
        return 0
    print(
        f"{'split':<14} {'questions':>9} {'answers':>8} {'citations':>9} {'refusals':>8} "
        f"{'gen p50':>8} {'gen p95':>8}"
    )
    for name, fig in [*figures.items(), ("all", overall), *extra.items()]:
        print(
            f"{name:<14} {fig['questions']:>9} {fig['answer_accuracy']:>8.1%} "
            f"{fig['citation_accuracy']:>9.1%} {fig['refusal_accuracy']:>8.1%} "
            f"{fig['generate_ms_p50']:>6.1f}ms {fig['generate_ms_p95']:>6.1f}ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
