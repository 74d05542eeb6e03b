"""The labelled answer set of bench/answers.py stays true: every labelled section exists."""

from __future__ import annotations

import re

from ragops.documents.extract import extract
from tests.conftest import REPO_ROOT
from tests.unit.bench import load_bench

answers = load_bench("answers")


def _headings(path: str) -> set[str]:
    file = REPO_ROOT / "docs" / path
    doc = extract(file.name, file.read_bytes(), declared_type=None, max_bytes=10**8,
                  max_pdf_pages=10)  # fmt: skip
    return {heading for section in doc.sections for heading in section.heading_path}


def test_set_is_big_enough_and_has_both_splits() -> None:
    questions = answers.load_set(answers.DEFAULT_SET)
    assert len(questions) >= 60
    assert sum(not q.in_scope for q in questions) >= 10
    assert {q.split for q in questions} == {"tune", "holdout"}
    assert len({q.id for q in questions}) == len(questions)


def test_every_labelled_section_exists_in_docs() -> None:
    missing = []
    for q in answers.load_set(answers.DEFAULT_SET):
        if not q.in_scope:
            continue
        assert q.document and q.section and q.facts, q.id
        for document, heading in [(q.document, q.section), *q.also]:
            if not (REPO_ROOT / "docs" / document).is_file() or heading not in _headings(document):
                missing.append((q.id, document, heading))
    assert missing == []


def test_no_labelled_question_is_quoted_in_docs() -> None:
    """docs/ is the corpus the set is asked over: a question quoted on a page is retrieved from
    that page, and the benchmark then measures the quote instead of the answerer."""

    def normal(text: str) -> str:
        return " ".join(re.sub(r"[^\w%]+", " ", text.lower()).split())

    pages = {
        path.relative_to(REPO_ROOT / "docs").as_posix(): normal(path.read_text())
        for path in (REPO_ROOT / "docs").rglob("*.md")
    }
    quoted = [
        (q.id, page)
        for q in answers.load_set(answers.DEFAULT_SET)
        for page, text in pages.items()
        if normal(q.question) in text
    ]
    assert quoted == []
