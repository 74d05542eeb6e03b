"""Citation checking: which bracketed passage numbers an answer uses, and which are bogus.

An answer cites passages as `[1]`, `[2, 3]`, `[2][3]`, `[1-2]` (or an en dash). A number is
valid when it names a passage that was actually given (1..n). `parse_citations` returns the
valid numbers in order of first use, the invalid ones, and can rewrite the answer without
the markers that point at passages that were not retrieved. Text inside code spans and
fenced code blocks is left alone (`items[0]` is code, not a citation), and so are markdown
links (`[1](https://...)`). `citations_for` builds the response's citation objects (document,
section, snippet, score) for the passage numbers an answer cites; a snippet quotes a document,
so it passes through the same redaction as an extractive answer (`AnswerGuard.redact`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from ragops.chat.models import Citation
from ragops.retrieval.service import Passage

SNIPPET_CHARS = 300
"""Longest snippet of a cited passage shown in a response."""
CITATIONS_VERSION = 2
"""The version of what a citation shows, raised whenever it changes (2: snippets redacted): it
is part of the answer cache's fingerprint (`cache.factory`), so an entry cached with citations
of an older release is not served after an upgrade."""
MAX_RANGE = 50
"""Longest range expanded number by number; longer or reversed ones count by their two ends."""

_MARKER = re.compile(
    r"(?P<space>[ \t]*)\[\s*(?P<body>\d{1,4}(?:\s*(?:[,;]|-|\u2013|\u2014)\s*\d{1,4})*)\s*\]"
    r"(?!\()",
    re.ASCII,
)
_ITEM = re.compile(r"(\d+)\s*(?:(?:-|\u2013|\u2014)\s*(\d+))?", re.ASCII)
_CODE = re.compile(r"```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)|`[^`\n]*`", re.DOTALL)
_CLOSING = set(".,;:!?)]}\"'")


@dataclass(frozen=True, slots=True)
class CitationCheck:
    """What an answer cites, measured against the `n_passages` it was given."""

    n_passages: int
    cited: tuple[int, ...]
    """Valid passage numbers (1-based), in order of first use, without repeats."""
    invalid: tuple[int, ...]
    """Cited numbers outside 1..n_passages, in order of first use, without repeats."""
    markers: int
    """How many bracketed markers the answer holds."""

    @property
    def ok(self) -> bool:
        """True when every cited number names a given passage."""
        return not self.invalid

    def strip_invalid(self, answer: str) -> str:
        """`answer` without the numbers (and emptied markers) that name no given passage."""
        return strip_invalid_citations(answer, self.n_passages)


def _numbers(body: str) -> list[int]:
    """The numbers of one marker's body, ranges expanded (bounded by MAX_RANGE)."""
    numbers: list[int] = []
    for match in _ITEM.finditer(body):
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) else low
        if low <= high and high - low <= MAX_RANGE:
            numbers.extend(range(low, high + 1))
        else:
            numbers.extend((low, high))
    return numbers


def _prose_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of the stretches of `text` that are not code."""
    spans: list[tuple[int, int]] = []
    position = 0
    for code in _CODE.finditer(text):
        spans.append((position, code.start()))
        position = code.end()
    spans.append((position, len(text)))
    return spans


def _markers(text: str) -> Iterator[re.Match[str]]:
    """Every citation marker of `text` outside code, in order."""
    for start, end in _prose_spans(text):
        yield from _MARKER.finditer(text, start, end)


def parse_citations(answer: str, n_passages: int) -> CitationCheck:
    """Find the bracketed citations of `answer` and sort them into valid and invalid."""
    cited: dict[int, None] = {}
    invalid: dict[int, None] = {}
    markers = 0
    for match in _markers(answer):
        markers += 1
        for number in _numbers(match.group("body")):
            target = cited if 1 <= number <= n_passages else invalid
            target.setdefault(number, None)
    return CitationCheck(n_passages, tuple(cited), tuple(invalid), markers)


def _replacement(match: re.Match[str], text: str, n_passages: int) -> tuple[str, int]:
    """What replaces one marker, and where the text resumes after it."""
    numbers = _numbers(match.group("body"))
    valid = list(dict.fromkeys(n for n in numbers if 1 <= n <= n_passages))
    space = match.group("space")
    if len(valid) == len(numbers):
        return match.group(0), match.end()
    if valid:
        return f"{space}[{', '.join(str(n) for n in valid)}]", match.end()
    resume = match.end()
    if match.start() == 0 or text[match.start() - 1] == "\n":
        while resume < len(text) and text[resume] in " \t":
            resume += 1  # "[9] Foo" at a line start -> "Foo" (indentation kept)
        return space, resume
    following = text[resume : resume + 1]
    if following == "" or following.isspace() or following in _CLOSING:
        return "", resume  # "open [9]." -> "open."; "open [9] and" -> "open and"
    previous = text[match.start() - 1 : match.start()]
    if not space and previous.isalnum() and following.isalnum():
        space = " "  # "open[9]then" -> "open then"
    return space, resume  # "open [9][1]" -> "open [1]"; "open [9]then" -> "open then"


def strip_invalid_citations(answer: str, n_passages: int) -> str:
    """`answer` with every cited number outside 1..n_passages removed.

    A marker with some valid numbers keeps those (`[1, 7]` -> `[1]`); a marker with none
    disappears along with the space before it (or, at the start of a line, the space after
    it). Code is left untouched.
    """
    pieces: list[str] = []
    position = 0
    for match in _markers(answer):
        pieces.append(answer[position : match.start()])
        replacement, position = _replacement(match, answer, n_passages)
        pieces.append(replacement)
    pieces.append(answer[position:])
    return "".join(pieces)


def renumber_citations(answer: str, order: Sequence[int]) -> str:
    """`answer` with each cited passage number replaced by its place in `order` (1-based):
    passages cited [3], [1] become [1], [2], so the numbers run in reading order and match
    a numbered list of the citations. Numbers not in `order` are left as they are."""
    place = {number: i for i, number in enumerate(order, start=1)}
    pieces: list[str] = []
    position = 0
    for match in _markers(answer):
        numbers = [place.get(n, n) for n in _numbers(match.group("body"))]
        pieces.append(answer[position : match.start()])
        pieces.append(f"{match.group('space')}[{', '.join(str(n) for n in numbers)}]")
        position = match.end()
    pieces.append(answer[position:])
    return "".join(pieces)


def citations_for(
    passages: Sequence[Passage],
    indexes: Sequence[int],
    *,
    redact: Callable[[str], str],
    renumbered: bool = False,
) -> list[Citation]:
    """Citation objects for the 1-based passage `indexes` the answer cites; numbered 1..n in
    that order when the answer's markers were renumbered so (`Generated.renumbered`). Each
    snippet is cut from the passage's text as `redact` leaves it (the answer's redaction:
    redacted before the cut, so a key the cut would split is still found whole)."""
    return [
        Citation(
            index=number if renumbered else index,
            document_id=passages[index - 1].document_id,
            title=passages[index - 1].title,
            section=passages[index - 1].section,
            snippet=snippet(redact(passages[index - 1].text)),
            score=round(float(passages[index - 1].score), 4),
        )
        for number, index in enumerate(indexes, start=1)
        if 1 <= index <= len(passages)
    ]


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The start of a passage, cut at a word boundary."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0]
    return cut + " …"


MAX_MARKER_CHARS = 64
"""Longest open `[...` a stream holds back as a citation marker that may still close."""


def _stable_end(text: str) -> int:
    """Where the part of a growing `text` ends whose markers are settled: before an open
    `[`, a marker the next character decides about (`[9]` then `.` or `(`), an inline code
    span still open on this line, and the spaces before any of them."""
    cut = len(text)
    line = text.rfind("\n") + 1
    if text.count("`", line) % 2:  # an inline code span may still close on this line
        cut = text.rfind("`")
    bracket = text.rfind("[", 0, cut)
    if bracket >= line:
        close = text.find("]", bracket, cut)
        if (close == -1 and cut - bracket <= MAX_MARKER_CHARS) or close == cut - 1:
            cut = bracket
    while cut > 0 and text[cut - 1] in " \t":
        cut -= 1
    return cut


class StreamCitations:
    """`strip_invalid_citations` on a stream: `feed` returns what may be sent now, `finish`
    the rest, so that the tokens add up to the checked answer. Only the end of the text that
    could still become (or settle) a marker is held back."""

    def __init__(self, n_passages: int) -> None:
        self.n_passages = n_passages
        self.text = ""
        self.sent = ""

    def _next(self, cleaned: str) -> str:
        if not cleaned.startswith(self.sent):  # cannot happen with _stable_end; never resend
            return ""
        ready, self.sent = cleaned[len(self.sent) :], cleaned
        return ready

    def feed(self, delta: str) -> str:
        """Add `delta`; the checked text that may be sent now."""
        self.text += delta
        return self._next(
            strip_invalid_citations(self.text[: _stable_end(self.text)], self.n_passages)
        )

    def finish(self) -> str:
        """The checked rest of the stream."""
        return self._next(strip_invalid_citations(self.text, self.n_passages))
