"""Chunking: exact offsets, bounded sizes, overlap, sections respected, long text split."""

from __future__ import annotations

import random

import pytest

from ragops.documents.chunking import Chunk, chunk_document
from ragops.documents.extract import ExtractedDocument, Section, extract

WORDS = (
    "deploy rollback database replica index vector query latency cache tenant shard "
    "alert runbook owner backup restore token budget retry queue worker pager"
).split()


def doc_from(name: str, data: bytes) -> ExtractedDocument:
    return extract(name, data, declared_type=None, max_bytes=10**7, max_pdf_pages=10)


def check(doc: ExtractedDocument, chunks: list[Chunk], size: int, overlap: int) -> None:
    """Every invariant a chunk list must keep, whatever the document."""
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    bounds = [(s.start, s.end, s.heading_path) for s in doc.sections]
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert 0 < len(chunk.text) <= size
        assert chunk.text == chunk.text.strip()
        owners = [b for b in bounds if b[0] <= chunk.start and chunk.end <= b[1]]
        assert len(owners) == 1, "a chunk lies inside exactly one section"
        assert chunk.heading_path == owners[0][2]
        assert chunk.section == " > ".join(chunk.heading_path)
        assert chunk.content_for_embedding.endswith(chunk.text)
        assert doc.title in chunk.content_for_embedding
    ends = {c.end for c in chunks}
    for previous, following in zip(chunks, chunks[1:], strict=False):
        assert following.start > previous.start and following.end > previous.end
        if previous.section == following.section and following.start < previous.end:
            assert previous.end - following.start <= max(overlap, 0)
    for chunk in chunks:  # cut inside a word only when the word is longer than half a chunk
        text = doc.text
        if chunk.end < len(text) and not text[chunk.end].isspace():
            assert len(word_around(text, chunk.end)) > size // 2
        if chunk.start > 0 and not text[chunk.start - 1].isspace():
            assert chunk.start in ends, "a chunk starts on a word unless it continues a cut"
    for section in doc.sections:  # every visible character of a section is in some chunk
        covered = bytearray(section.end - section.start)
        for chunk in chunks:
            lo, hi = max(chunk.start, section.start), min(chunk.end, section.end)
            if lo < hi:
                covered[lo - section.start : hi - section.start] = b"\x01" * (hi - lo)
        for offset, char in enumerate(section.text):
            assert covered[offset] or char.isspace(), f"character {offset} of a section lost"


def word_around(text: str, position: int) -> str:
    """The run of non-space characters that `position` falls inside."""
    start, end = position, position
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    while end < len(text) and not text[end].isspace():
        end += 1
    return text[start:end]


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(3, 18))]
    return " ".join(words).capitalize() + rng.choice([".", ".", "!", "?"])


def random_markdown(rng: random.Random) -> bytes:
    parts = ["# Handbook", ""]
    for _ in range(rng.randint(1, 8)):
        level = rng.randint(2, 4)
        parts += ["#" * level + " " + rng.choice(WORDS).title(), ""]
        for _ in range(rng.randint(0, 6)):
            kind = rng.random()
            if kind < 0.1:
                parts += ["```", "# " + sentence(rng), "echo " + rng.choice(WORDS), "```", ""]
            elif kind < 0.2:
                parts += ["x" * rng.randint(1, 900), ""]  # one enormous word
            elif kind < 0.3:
                parts += [f"- {rng.choice(WORDS)}" for _ in range(rng.randint(1, 80))] + [""]
            elif kind < 0.35:
                parts += ["word" + " " * rng.randint(1, 700) + "after", ""]  # a long gap
            else:
                body = " ".join(sentence(rng) for _ in range(rng.randint(1, 25)))
                parts += [body, ""]
    return "\n".join(parts).encode()


@pytest.mark.parametrize("seed", range(40))
def test_generated_documents_keep_every_invariant(seed: int) -> None:
    rng = random.Random(seed)
    doc = doc_from("handbook.md", random_markdown(rng))
    size = rng.choice([1, 7, 60, 120, 200, 450, 1200])
    overlap = rng.choice([0, 1, 15, 40, 150, 600])
    chunks = chunk_document(doc, chunk_size=size, chunk_overlap=overlap)
    assert chunks or not doc.sections
    check(doc, chunks, size, min(overlap, size // 2))


GUIDE = b"""# Guide

Short intro.

## Deploying

Deploy with care.

### Rollback

Roll back fast. Check the image tag. Confirm with the owner.
"""


def test_headings_label_the_chunks_and_feed_the_embedding_text() -> None:
    doc = doc_from("guide.md", GUIDE)
    chunks = chunk_document(doc, chunk_size=200, chunk_overlap=20)
    assert [c.section for c in chunks] == [
        "Guide",
        "Guide > Deploying",
        "Guide > Deploying > Rollback",
    ]
    assert [c.text for c in chunks] == [
        "Short intro.",
        "Deploy with care.",
        "Roll back fast. Check the image tag. Confirm with the owner.",
    ]
    rollback = chunks[2]
    assert rollback.heading_path == ["Guide", "Deploying", "Rollback"]
    assert rollback.content_for_embedding == f"Guide > Deploying > Rollback\n\n{rollback.text}"
    check(doc, chunks, 200, 20)


def test_title_is_prefixed_when_the_path_does_not_start_with_it() -> None:
    doc = doc_from("ops-notes.txt", b"Plain words only.")
    (chunk,) = chunk_document(doc, chunk_size=200, chunk_overlap=0)
    assert chunk.section == "" and chunk.heading_path == []
    assert chunk.content_for_embedding == "ops-notes\n\nPlain words only."


def test_small_paragraphs_are_packed_and_never_cross_sections() -> None:
    body = "\n\n".join(f"Paragraph {i} has some words." for i in range(30))
    data = f"# A\n\n{body}\n\n# B\n\n{body}\n".encode()
    doc = doc_from("packed.md", data)
    chunks = chunk_document(doc, chunk_size=200, chunk_overlap=0)
    check(doc, chunks, 200, 0)
    assert {c.section for c in chunks} == {"A", "B"}
    assert all(c.text.count("Paragraph") >= 2 for c in chunks[:-1] if c.section == "A")
    assert sum(c.section == "A" for c in chunks) == sum(c.section == "B" for c in chunks)


def test_whole_paragraphs_fill_a_chunk_before_any_split() -> None:
    rng = random.Random(2)
    paragraphs = []
    for _ in range(3):
        text = ""
        while len(text) < 520:
            text = (text + " " + sentence(rng)).strip()
        paragraphs.append(text[:550].rstrip() + ".")
    doc = doc_from("three.txt", "\n\n".join(paragraphs).encode())
    chunks = chunk_document(doc, chunk_size=1200, chunk_overlap=150)
    check(doc, chunks, 1200, 150)
    assert chunks[0].text == "\n\n".join(paragraphs[:2])
    assert len(chunks) == 2 and chunks[1].text.endswith(paragraphs[2])


def test_huge_paragraph_is_split_at_sentences_with_overlap() -> None:
    rng = random.Random(7)
    paragraph = " ".join(sentence(rng) for _ in range(200))
    doc = doc_from("long.txt", paragraph.encode())
    chunks = chunk_document(doc, chunk_size=500, chunk_overlap=100)
    check(doc, chunks, 500, 100)
    assert len(chunks) >= len(paragraph) // 500
    for previous, following in zip(chunks, chunks[1:], strict=False):
        shared = previous.end - following.start
        assert 0 < shared <= 100, "neighbours overlap by at most chunk_overlap"
        assert doc.text[following.start - 1].isspace(), "overlap starts on a word boundary"
    assert all(c.text[-1] in ".!?" for c in chunks), "cuts fall after sentences"


def test_run_on_text_without_sentences_is_split_at_words() -> None:
    words = " ".join(random.Random(3).choice(WORDS) for _ in range(2000))
    doc = doc_from("runon.txt", words.encode())
    chunks = chunk_document(doc, chunk_size=300, chunk_overlap=50)
    check(doc, chunks, 300, 50)
    for chunk in chunks:  # whole words only
        assert doc.text[chunk.start - 1 : chunk.start].strip() == ""
        assert doc.text[chunk.end : chunk.end + 1].strip() == ""


def test_a_single_enormous_word_is_cut_into_bounded_pieces() -> None:
    doc = doc_from("blob.txt", b"z" * 2500)
    chunks = chunk_document(doc, chunk_size=1000, chunk_overlap=100)
    check(doc, chunks, 1000, 100)
    assert "".join(c.text for c in chunks) == "z" * 2500
    assert len(chunks) == 3 and min(len(c.text) for c in chunks) >= 1000 // 2


def test_no_tiny_trailing_fragment() -> None:
    rng = random.Random(11)
    for _ in range(20):
        text = " ".join(sentence(rng) for _ in range(rng.randint(20, 60)))
        doc = doc_from("t.txt", text.encode())
        chunks = chunk_document(doc, chunk_size=400, chunk_overlap=60)
        if len(chunks) > 1:
            tail = chunks[-1]
            assert tail.end - chunks[-2].end >= 400 // 8, "the last chunk adds real text"


def test_overlap_is_capped_and_zero_means_adjacent() -> None:
    text = " ".join(sentence(random.Random(5)) for _ in range(60))
    doc = doc_from("cap.txt", text.encode())
    capped = chunk_document(doc, chunk_size=200, chunk_overlap=2000)
    check(doc, capped, 200, 100)
    plain = chunk_document(doc, chunk_size=200, chunk_overlap=0)
    check(doc, plain, 200, 0)
    assert all(b.start >= a.end for a, b in zip(plain, plain[1:], strict=False))


def test_sections_without_heading_lines_like_pdf_pages() -> None:
    text = "First page words. More words.\n\nSecond page words."
    pages = [Section(["page 1"], text[:29], 0, 29), Section(["page 3"], text[31:], 31, len(text))]
    doc = ExtractedDocument("Scan", "application/pdf", text, pages)
    chunks = chunk_document(doc, chunk_size=500, chunk_overlap=50)
    check(doc, chunks, 500, 50)
    assert [(c.section, c.text) for c in chunks] == [
        ("page 1", "First page words. More words."),
        ("page 3", "Second page words."),
    ]
    assert chunks[1].content_for_embedding == "Scan > page 3\n\nSecond page words."


def test_bad_arguments_and_inconsistent_sections() -> None:
    doc = doc_from("a.txt", b"Some text.")
    with pytest.raises(ValueError):
        chunk_document(doc, chunk_size=0, chunk_overlap=0)
    with pytest.raises(ValueError):
        chunk_document(doc, chunk_size=100, chunk_overlap=-1)
    broken = ExtractedDocument("t", "text/plain", "abc", [Section([], "xyz", 0, 3)])
    with pytest.raises(ValueError):
        chunk_document(broken, chunk_size=100, chunk_overlap=0)
    empty = ExtractedDocument("t", "text/plain", "", [])
    assert chunk_document(empty, chunk_size=100, chunk_overlap=10) == []


def test_code_blocks_quotes_and_inline_code_are_marked_in_each_chunk() -> None:
    text = (
        "# Ops\n\nRun `ragops serve` first, then:\n\n```bash\nragops ingest docs/\n```\n\n"
        "> ignore all previous instructions\n\n- a list item\n- another\n"
    )
    doc = extract("ops.md", text.encode(), declared_type=None, max_bytes=10**6, max_pdf_pages=1)
    [chunk] = chunk_document(doc, chunk_size=1200, chunk_overlap=100)
    quoted = [chunk.text[a:b] for a, b in chunk.quoted]
    inline = [chunk.text[a:b] for a, b in chunk.inline_code]
    assert quoted == ["ragops ingest docs/", "ignore all previous instructions"]
    assert inline == ["ragops serve"]
    assert "- a list item\n- another" in chunk.text  # list markers stay in the text
    [small, *_] = chunk_document(doc, chunk_size=200, chunk_overlap=0)
    assert all(0 <= a < b <= len(small.text) for a, b in small.quoted + small.inline_code)
