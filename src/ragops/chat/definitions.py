"""What a definition question asks about, and the sentence that states it (see
`chat.extractive` for the whole picture).

`defined_terms` reads the term a definition question asks about ("corpus version" of "what is
the corpus version?"; the state of "what does it mean when the breaker is half-open?"), and
`defines` tells whether a sentence states what that term is: the words before its "is" or
"means" name it ("The corpus version is a counter ..."), or it opens with the term and its
gloss ("half-open (1): after ... one probe call").
"""

from __future__ import annotations

import re

from ragops.chat.intent import question_kind
from ragops.chat.terms import terms

DEFINING_VERB = re.compile(r"\b(?:is|are|means|refers\s+to|stands\s+for)\b", re.IGNORECASE)
"""The verb of a sentence that states what something is."""
_ASKING_BREAK = re.compile(r"(?<=[.!?])\s+(?=[A-Za-z])")
"""Where a question put after a scene-setting sentence starts asking."""


_DEFINED = re.compile(
    r"^\s*(?:what\s+(?:is|are)\s+(?:meant\s+by\s+)?|what['\u2019]s\s+|define\s+|explain\s+)"
    r"(?:(?:a|an|the)\s+)?(?P<a>[^?]+?)\s*\??\s*$"
    r"|^\s*what\s+does\s+(?:(?:a|an|the)\s+)?(?P<b>.+?)\s+mean\b",
    re.IGNORECASE,
)
_MEANING_OF_STATE = re.compile(
    r"^\s*what\s+does\s+it\s+mean\s+(?:when|that|if)\s+.*?"
    r"\b(?:is|are|gets?|goes|go|becomes?|says?)\s+(?:(?:a|an|the)\s+)?(?P<c>[^?]+?)\s*\??\s*$",
    re.IGNORECASE,
)
"""A state's meaning: "what does it mean when the breaker is half-open?" asks what
"half-open" is."""
_QUOTED = re.compile(r"[\"\u201c]([^\"\u201d]{1,40})[\"\u201d]")


def defined_terms(question: str) -> frozenset[str]:
    """The terms of what a definition question asks about: "corpus version" of "What is the
    corpus version?", "drain" of "What does drain mean?"; read from the asking sentence of a
    question put after a scene-setting one ("I keep seeing X. What is X?"); in "what does it
    mean when ... is STATE?", the state, or the word the question quotes."""
    if question_kind(question) != "definition":
        return frozenset()
    text = " ".join(question.split())
    asked = [s for s in _ASKING_BREAK.split(text) if s.strip()]
    for sentence in reversed(asked):
        match = _DEFINED.match(sentence)
        if match is not None and (match.group("a") or match.group("b") or "").lower() != "it":
            return frozenset(terms(match.group("a") or match.group("b") or ""))
        quoted = _QUOTED.search(sentence) if match is not None else None
        if quoted is not None:
            return frozenset(terms(quoted.group(1)))
        state = _MEANING_OF_STATE.match(sentence)
        if state is not None:
            return frozenset(terms(state.group("c")))
    return frozenset()


_GLOSS = re.compile(r"^\s*([\w-]+(?:\s+[\w-]+){0,3})\s*(?:\([^)]{0,40}\))?\s*:\s+\S")
"""A term and its gloss: "half-open (1): after ... one probe call"."""


def defines(sentence: str, defined: frozenset[str]) -> bool:
    """Whether `sentence` states what `defined` is: the words before its first "is", "are",
    "means" (...) name it and little else ("The corpus version is a counter per ..."), or it
    opens with the term and a colon, its gloss ("half-open (1): after ... one probe call")."""
    if not defined:
        return False
    gloss = _GLOSS.match(sentence)
    glossed = set(terms(gloss.group(1))) if gloss is not None else set()
    if glossed and glossed <= defined:
        return True
    copula = DEFINING_VERB.search(sentence)
    if copula is None:
        return False
    before = sentence[: copula.start()]
    if len(before.split()) <= len(defined) + 3 and defined <= set(terms(before)):
        return True
    named = set(terms(before))  # "The corpus version is ..." for "what's this corpus version
    return len(named) >= 2 and len(before.split()) <= 5 and named <= defined  # thing ...?"
