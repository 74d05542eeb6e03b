"""What a question asks for, so the extractive answerer can answer in that shape.

`question_kind` sorts a question into one of:

- `procedure`: what to do ("how do I roll back?", "the pool is exhausted, what now?"): the
  answer is a list of steps in their order, or an action section (Mitigation, Rollback...);
- `list`: several things ("which file types...", "what are the scopes?"): a list or a table;
- `value`: a number, a name or a setting ("how many...", "what is the default...", "which
  port..."): the sentence or table row that states it;
- `yesno`: "is / does / can ...?": the sentence that settles it;
- `definition`: "what is X?", "what does X mean?": the sentence that defines it;
- `fact`: anything else: the best sentences.

The rules look only at the question's wording (no document knowledge), so they apply to any
corpus. `ACTION_HEADINGS` names the section headings whose body is a procedure.

`asked_section` tells which kind of section of an on-call page a question asks for, from its
wording: checking, verifying, confirming or looking for the cause asks for the *Diagnosis*
("how do I check whether users are really affected?"); what to do about it for the
*Mitigation*; what an alert means for the *Meaning*; who or what is affected for the
*Impact*; whom to call for the *Escalation*. `section_kind` reads the same kinds from a
heading's words (`SECTION_WORDS`), so any page whose headings use that vocabulary is covered,
whatever its file is called.
"""

from __future__ import annotations

import re
from typing import Literal

QuestionKind = Literal["procedure", "list", "value", "yesno", "definition", "fact"]
SectionKind = Literal["diagnosis", "mitigation", "meaning", "impact", "escalation"]

ACTION_HEADINGS = frozenset(
    """mitigation mitigations mitigate resolution resolve remediation recovery recover
    rollback fix fixes workaround workarounds steps procedure procedures troubleshooting
    rotation""".split()
)
ACTION_PHRASES = ("what to do", "first response", "how to fix", "how to recover")
"""Words that make a section heading an action section (its body tells what to do)."""

_PROCEDURE = re.compile(
    r"\b(?:how\s+(?:do|can|should|would|to)\b|what\s+(?:do|should|can|must)\s+(?:i|we|you)\s+"
    r"(?:(?:have|need)\s+to\s+)?(?:do|check|verify|inspect|try|change|look\s+(?:at|into|for))\b|"
    r"what\s+(?:i|we|you)\s+(?:have|need)\s+to\s+do\b|what\s+now\b|what\s+next\b|what\s+to\s+do\b|steps?\s+(?:to|for)\b|procedure\b|"
    r"^\s*what\s+(?:are|were)\s+(?:the\s+)?(?:\w+\s+)?steps\b|"
    r"how\s+(?:is|are)\s+\w+(?:\s+\w+)?\s+(?:rolled\s+back|restored|rotated|fixed)\b|"
    r"(?:fix|resolve|mitigate|recover|restore|troubleshoot|handle)\b.*\?\s*$)",
    re.IGNORECASE,
)
_LIST = re.compile(
    r"^\s*(?:which|list|name|enumerate)\b|^\s*what\s+(?:are|were)\s+(?:the\s+)?\w+|"
    r"^\s*what\s+(?:kinds?|types?|sorts?)\s+of\b|\b(?:all|every)\s+(?:the\s+)?\w+s\b",
    re.IGNORECASE,
)
_VALUE = re.compile(
    r"\bhow\s+(?:many|much|long|often|big|large|fast|soon|quickly|high|low|old)\b|"
    r"\bwhat(?:\s+(?:is|are)|['\u2019]s)\s+(?:the\s+)?(?:default|limit|maximum|minimum|max|min|timeout|port|"
    r"size|threshold|value|number|name|url|path|status|code|version|largest|smallest|highest|"
    r"lowest|biggest|longest|shortest|earliest|latest)\b|^\s*at\s+what\b|"
    r"\b(?:which|what)\s+(?:port|status|code|header|setting|variable|env|environment\s+"
    r"variable|file|command|endpoint|url|path|model|version|library|package)\b|"
    r"^\s*when\b|^\s*where\b|\bwhat\s+\w+\s+(?:does|do|is)\s+.*\b(?:use|return|get|send)\b",
    re.IGNORECASE,
)
_CONTENTS = re.compile(
    r"^\s*what\s+(?:does|do|will|should)\s+.+\s+(?:contain|include|list|hold|cover)\s*\??\s*$",
    re.IGNORECASE,
)
"""What something holds ("what does a postmortem contain?"): several things, a list."""
_LEADING_PREPOSITION = re.compile(
    r"^\s*(?:in|on|at|to|from|through|via|with|by|for|under|over|into)\s+(?=(?:which|what)\b)",
    re.IGNORECASE,
)
"""A preposition before the question word ("through which channels ...?", "in which
format ...?"): the question is read as if it started with "which"."""
_CONJUNCTION = re.compile(r"^\s*(?:and|but|so|also|then)\b[\s,]*", re.IGNORECASE)
"""A follow-up's opening word ("And when should I ...?") is not part of what it asks."""
_AUXILIARY = frozenset(
    "is are was were does do did can could should must will would has have may".split()
)
_NOT_A_THING = frozenset("of kind kinds type types sort sorts one ones".split())
_YESNO = re.compile(
    r"^\s*(?:is|are|does|do|can|could|will|would|should|has|have|was|were|did|must|may)\b",
    re.IGNORECASE,
)
_DEFINITION = re.compile(
    r"^\s*(?:what\s+(?:is|are)\s+(?:a|an|the)?\s*\S+(?:\s+\S+){0,3}\s*\??\s*$|what['\u2019]s\b|"
    r"what\s+does\s+.+\s+mean\b|define\b|explain\b|what\s+is\s+meant\s+by\b)",
    re.IGNORECASE,
)
_PLURAL_WHICH = re.compile(
    r"^\s*(?:which|what)\s+(?:(?:are|were)\s+)?(?:the\s+)?(\w+)(?:\s+(\w+))?", re.IGNORECASE
)
_NOT_PLURAL = frozenset(
    """is was does has status process access class alias its this happens means makes causes
    takes needs runs goes gets keeps sends uses decides counts stops fails breaks changes
    costs protects returns shows says tells""".split()
)


def _is_verb(word: str) -> bool:
    return word.lower() in _NOT_PLURAL or word.lower() in ("do", "did", "can", "should")


def _is_plural(word: str) -> bool:
    lower = word.lower()
    return (
        len(lower) > 3
        and lower.endswith("s")
        and not lower.endswith("ss")
        and (lower not in _NOT_PLURAL)
    )


_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[A-Za-z])")


def question_kind(question: str) -> QuestionKind:
    """The shape of answer `question` asks for (see the module docstring). A question put
    after sentences that set the scene ("We're on X and lost an hour of data. What are the
    steps?") is read from its asking sentence when that alone says more than "fact": the
    scene's words do not ask anything, and the rules anchored at a question's start
    ("what are the steps", "which ...") see its start there."""
    sentences = _SENTENCE_BREAK.split(" ".join(question.split()))
    if len(sentences) > 1 and sentences[-1].rstrip().endswith("?"):
        asked = _kind(sentences[-1])
        if asked != "fact":
            return asked
    return _kind(question)


def _kind(question: str) -> QuestionKind:
    text = _CONJUNCTION.sub("", " ".join(question.split()))
    if _PROCEDURE.search(text) and not _VALUE.search(text) and not _steps_settled(text):
        return "procedure"
    if _YESNO.match(text):
        return "yesno"
    asked = _LEADING_PREPOSITION.sub("", text)
    plural = _PLURAL_WHICH.match(asked)
    words = [word for word in plural.groups() if word] if plural else []
    if words and not _is_verb(words[0]) and any(_is_plural(word) for word in words):
        return "list"
    if _plural_head(asked):
        return "list"
    if _VALUE.search(text) or _one_thing(words):
        return "value"
    if _LIST.search(asked) or _CONTENTS.search(text):
        return "list"
    if _DEFINITION.search(text):
        return "definition"
    return "fact"


_HEADED = re.compile(
    r"^\s*(?:which|what)\s+((?:[\w-]+\s+){1,3}?)([\w-]+)\s+"
    r"(?:do|does|did|are|were|can|could|will|would|should|must|have|has)\b",
    re.IGNORECASE,
)
"""A question word, a noun phrase of two to four words and its verb's auxiliary: "what
security-related HTTP headers does ...?"."""


def _plural_head(question: str) -> bool:
    """Whether "which/what ADJ... NOUNS do|does ...?" asks for several things: the noun phrase
    ends before the auxiliary, and its last word (its head) is plural, whatever modifies it
    ("security-related HTTP headers"); no word before the head is a verb."""
    match = _HEADED.match(question)
    if match is None:
        return False
    before = match.group(1).split()
    return _is_plural(match.group(2)) and not any(
        _is_verb(word) or word.lower() in _AUXILIARY for word in before
    )


_STEPS_NOUN = re.compile(r"\bsteps?\s+(?:to|for)\b", re.IGNORECASE)


def _steps_settled(text: str) -> bool:
    """Whether a question opening with an auxiliary names steps only as what it asks about
    ("does it send each step to X?"): asked with "does / is / can", its answer is yes or no;
    "steps to / for" asks for a procedure in a question that does not open so."""
    if not _YESNO.match(text):
        return False
    return all(_STEPS_NOUN.fullmatch(m.group(0)) for m in _PROCEDURE.finditer(text))


def _one_thing(words: list[str]) -> bool:
    """Whether "which/what NOUN is|does ..." asks for one thing of a kind: "which user does
    the image run as?", "what severity is this alert?" (a plural noun asks for a list)."""
    return (
        len(words) == 2
        and not _is_verb(words[0])
        and words[0].lower() not in _NOT_A_THING
        and words[1].lower() in _AUXILIARY
    )


def is_action_heading(section: str) -> bool:
    """Whether a heading of a section path below the document's title names an action
    section: the last one, or one above it (a subsection of *Rollback* is part of the
    rollback). A document's title alone does not: the text before its first heading
    introduces the page ("Database recovery: restore from a backup"), the steps are in its
    sections."""
    return any(_names_action(heading) for heading in section.split(">")[1:])


def is_topical_action(heading: str) -> bool:
    """Whether one heading names an action section and also what it is about, beyond the
    action: "Rollback drill", "First response (any alert)" (not "Mitigation", "Rollback")."""
    if not _names_action(heading):
        return False
    words = set(re.findall(r"[a-z]+", heading.lower())) - _FUNCTION_WORDS
    return not words <= _ACTION_WORDS


_FUNCTION_WORDS = frozenset("a an the of to for in on at and or any all how what".split())
_ACTION_WORDS = ACTION_HEADINGS | {w for phrase in ACTION_PHRASES for w in phrase.split()}


def _names_action(heading: str) -> bool:
    text = heading.strip().lower()
    words = re.findall(r"[a-z]+", text)
    return any(word in ACTION_HEADINGS for word in words) or any(
        phrase in text for phrase in ACTION_PHRASES
    )


SECTION_WORDS: dict[SectionKind, frozenset[str]] = {
    "diagnosis": frozenset(
        """diagnosis diagnose diagnosing diagnostics investigation investigating investigate
        triage verification checks checking""".split()
    ),
    "mitigation": ACTION_HEADINGS,
    "meaning": frozenset("meaning".split()),
    "impact": frozenset("impact impacts affected consequences".split()),
    "escalation": frozenset("escalation escalations escalate escalating".split()),
}
"""Heading words that say which kind of section a heading titles."""

_ASKS_DIAGNOSIS = re.compile(
    r"\b(?:check|checking|verify|verifying|confirm|confirming|investigate|investigating|"
    r"diagnose|diagnosing|triage|inspect)\b|\blook\s+(?:at|into)\b|\b(?:tell|know|see|find\s+out)\s+(?:if|whether)\b|"
    r"\b(?:is|are)\s+(?:it|they|users|\w+)\s+really\b|\breally\s+(?:down|affected|broken)\b|"
    r"\b(?:find|look\s+for)\s+(?:the\s+)?(?:root\s+)?(?:cause|reason)\b|\broot\s+cause\b|"
    r"\bwhat\s+(?:caused|is\s+causing)\b",
    re.IGNORECASE,
)
_ASKS_MITIGATION = re.compile(
    r"\b(?:fix|resolve|mitigate|remedy|recover|work\s*around)\b|"
    r"\bwhat\s+(?:do|should|can|must)\s+(?:i|we)\s+(?:(?:have|need)\s+to\s+)?do\b|"
    r"\bwhat\s+now\b|\bwhat\s+to\s+do\b",
    re.IGNORECASE,
)
_ASKS_ESCALATION = re.compile(
    r"\bescalat\w*|\bwho\s+(?:do|should|must)\s+(?:i|we)\s+(?:call|page|contact|notify|tell)\b|"
    r"\bwho\s+(?:to\s+)?(?:call|page|contact|notify)\b|\bwho\s+gets\s+paged\b",
    re.IGNORECASE,
)
_ASKS_IMPACT = re.compile(
    r"\b(?:who|what|which\s+\w+)\s+(?:is|are)\s+(?:\w+\s+)?affected\b|\bimpact\b|"
    r"\bconsequences?\b|\bwhat\s+(?:breaks|stops\s+working)\b",
    re.IGNORECASE,
)
_ASKS_MEANING = re.compile(
    r"\bwhat\s+does\s+(?:this|the|that|it)\b.*\bmean\b|\bwhat\s+is\s+(?:this|that)\s+alert\b|"
    r"\bmeaning\s+of\b",
    re.IGNORECASE,
)

_ASKS: tuple[tuple[SectionKind, re.Pattern[str]], ...] = (
    ("diagnosis", _ASKS_DIAGNOSIS),
    ("mitigation", _ASKS_MITIGATION),
    ("escalation", _ASKS_ESCALATION),
    ("impact", _ASKS_IMPACT),
    ("meaning", _ASKS_MEANING),
)


def asked_section(question: str) -> SectionKind | None:
    """The kind of section `question` asks for (see the module docstring), or None. Checking
    comes before the remedy: "how do I check whether users are affected?" asks how to tell,
    not what to do."""
    for kind, pattern in _ASKS:
        if pattern.search(question):
            return kind
    return None


def section_kind(section: str) -> SectionKind | None:
    """The kind of section a heading path's headings below the title name, if any (the
    nearest heading first): *Diagnosis*, *Triage* are "diagnosis", *Mitigation*, *Rollback*
    "mitigation", *Paging and escalation* "escalation"."""
    for heading in reversed(section.split(">")[1:]):
        words = set(re.findall(r"[a-z]+", heading.lower()))
        for kind, vocabulary in SECTION_WORDS.items():
            if (kind == "mitigation" and _names_action(heading)) or (
                kind != "mitigation" and words & vocabulary
            ):
                return kind
    return None


def answers_steps(section: str, wanted: SectionKind | None) -> bool:
    """Whether a section answers a procedure question whole: an action section
    (`is_action_heading`), or, when the question asks how to check (`wanted` "diagnosis"),
    a diagnosis section and no longer the remedy."""
    if wanted == "diagnosis":
        return section_kind(section) == "diagnosis"
    return is_action_heading(section)
