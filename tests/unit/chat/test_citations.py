"""Citation parsing: marker forms, valid vs invalid numbers, and stripping the invalid ones."""

from __future__ import annotations

import pytest

from ragops.chat.citations import (
    CitationCheck,
    StreamCitations,
    parse_citations,
    strip_invalid_citations,
)


@pytest.mark.parametrize(
    ("answer", "cited"),
    [
        ("The pool keeps 5 connections [1].", (1,)),
        ("Both say so [2, 3].", (2, 3)),
        ("Both say so [2,3].", (2, 3)),
        ("Both say so [2; 3].", (2, 3)),
        ("Adjacent markers [2][3].", (2, 3)),
        ("A range [1-3].", (1, 2, 3)),
        ("An en-dash range [1\u20133].", (1, 2, 3)),
        ("Spaces inside [ 2 ].", (2,)),
        ("Mixed [1, 3-4] forms.", (1, 3, 4)),
        ("No space before it[2].", (2,)),
    ],
)
def test_marker_forms(answer: str, cited: tuple[int, ...]) -> None:
    check = parse_citations(answer, n_passages=5)
    assert check.cited == cited
    assert check.invalid == ()
    assert check.ok


def test_order_of_first_use_without_repeats() -> None:
    check = parse_citations("First [3]. Then [1]. Again [3][1]. Last [2].", n_passages=3)
    assert check.cited == (3, 1, 2)
    assert check.markers == 5


def test_out_of_range_numbers_are_invalid() -> None:
    check = parse_citations("Real [1]. Made up [7]. Zero [0]. Again [7].", n_passages=2)
    assert check.cited == (1,)
    assert check.invalid == (7, 0)
    assert not check.ok


def test_range_partly_out_of_range() -> None:
    check = parse_citations("See [2-4].", n_passages=3)
    assert check.cited == (2, 3)
    assert check.invalid == (4,)


def test_long_and_reversed_ranges_count_by_their_ends() -> None:
    assert parse_citations("x [1-9999].", n_passages=3).invalid == (9999,)
    assert parse_citations("x [3-1].", n_passages=3).cited == (3, 1)


def test_no_passages_makes_every_citation_invalid() -> None:
    check = parse_citations("Claim [1].", n_passages=0)
    assert check.cited == ()
    assert check.invalid == (1,)


@pytest.mark.parametrize(
    "answer",
    [
        "No citations at all.",
        "A markdown link [1](https://example.com) is not a citation.",
        "Code `items[1]` is not a citation.",
        "```python\nvalues[2] = 3\n```",
        "A footnote [^1] and words [see below] are not citations.",
        "Empty brackets [] and [ ] are nothing.",
    ],
)
def test_not_citations(answer: str) -> None:
    check = parse_citations(answer, n_passages=3)
    assert check.cited == ()
    assert check.invalid == ()
    assert check.markers == 0


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Pool keeps 5 [1]. Grows to 20 [9].", "Pool keeps 5 [1]. Grows to 20."),
        ("Made up [9] and real [1].", "Made up and real [1]."),
        ("Adjacent [9][1].", "Adjacent [1]."),
        ("Adjacent [1][9].", "Adjacent [1]."),
        ("Mixed [1, 9].", "Mixed [1]."),
        ("Range [2-5].", "Range [2, 3]."),
        ("[9] Starts a line.\n  [8] Indented line.", "Starts a line.\n  Indented line."),
        ("Glued[9]word.", "Glued word."),
        ("Fine [1][2][3].", "Fine [1][2][3]."),
        ("Code `x[9]` stays [9].", "Code `x[9]` stays."),
        ("```\nx[9]\n```\nText [9].", "```\nx[9]\n```\nText."),
    ],
)
def test_strip_invalid(answer: str, expected: str) -> None:
    assert strip_invalid_citations(answer, n_passages=3) == expected
    assert parse_citations(answer, n_passages=3).strip_invalid(answer) == expected


def test_strip_invalid_leaves_a_valid_answer_unchanged() -> None:
    answer = "The pool keeps 5 connections [1]. It grows to 20 [2, 3].\n\n- item [1-2]"
    assert strip_invalid_citations(answer, n_passages=3) == answer


def test_stripped_answer_has_no_invalid_citations() -> None:
    answer = "A [1][4]. B [5-6]. C [2, 7]. D[0]."
    stripped = strip_invalid_citations(answer, n_passages=2)
    check = parse_citations(stripped, n_passages=2)
    assert check.invalid == ()
    assert check.cited == (1, 2)


def test_check_is_a_value() -> None:
    check = parse_citations("A [1].", 1)
    assert check == CitationCheck(n_passages=1, cited=(1,), invalid=(), markers=1)


def test_renumbering_follows_reading_order() -> None:
    from ragops.chat.citations import renumber_citations

    text = "Revert [3]. Or retag [2][3]. Code `x[1]` stays."
    assert renumber_citations(text, [3, 2]) == "Revert [1]. Or retag [2][1]. Code `x[1]` stays."


STREAMED = [
    "The widget comes in red and blue [1][7]. See also [2, 9].",
    "[9] Foo bar [1].\n[3] baz",
    "open[9]then [1](https://example.com) and `items[9]` ok [2-3].",
    "```\ncode [9]\n```\nafter [9]. end [1]",
    "an inline `code [9] span` and a bare [9]",
    "a long [bracket that is no marker at all, only text in brackets] [1]",
    "ends on [9]",
]


@pytest.mark.parametrize("answer", STREAMED)
@pytest.mark.parametrize("size", [1, 2, 3, 5, 8])
def test_a_stream_adds_up_to_the_checked_answer(answer: str, size: int) -> None:
    """Whatever the pieces a model streams, the tokens sent are the checked answer's, and
    nothing once sent is taken back."""
    stream = StreamCitations(3)
    pieces = [stream.feed(answer[i : i + size]) for i in range(0, len(answer), size)]
    sent = "".join(pieces) + stream.finish()
    assert sent == strip_invalid_citations(answer, 3)
    assert "[9]" not in sent.replace("`items[9]`", "").replace("code [9]", "")


def test_a_stream_holds_back_only_what_may_become_a_marker() -> None:
    stream = StreamCitations(2)
    assert stream.feed("Revert the commit") == "Revert the commit"
    assert stream.feed(" [") == ""  # may be a marker
    assert stream.feed("1]") == ""  # "[1](" would be a link
    assert stream.feed(". Then") == " [1]. Then"
