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
"""

from __future__ import annotations

import re
from typing import Literal

QuestionKind = Literal["procedure", "list", "value", "yesno", "definition", "fact"]

ACTION_HEADINGS = frozenset(
    """mitigation mitigations mitigate resolution resolve remediation recovery recover
    rollback fix fixes workaround workarounds steps procedure procedures troubleshooting
    rotation""".split()
)
ACTION_PHRASES = ("what to do", "first response", "how to fix", "how to recover")
"""Words that make a section heading an action section (its body tells what to do)."""

_PROCEDURE = re.compile(
    r"\b(?:how\s+(?:do|can|should|would|to)\b|what\s+(?:do|should|can|must)\s+(?:i|we|you)\s+"
    r"do\b|what\s+now\b|what\s+next\b|what\s+to\s+do\b|steps?\s+(?:to|for)\b|procedure\b|"
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
    r"\bwhat\s+(?:is|are)\s+(?:the\s+)?(?:default|limit|maximum|minimum|max|min|timeout|port|"
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


def question_kind(question: str) -> QuestionKind:
    """The shape of answer `question` asks for (see the module docstring)."""
    text = _CONJUNCTION.sub("", " ".join(question.split()))
    if _PROCEDURE.search(text) and not _VALUE.search(text):
        return "procedure"
    if _YESNO.match(text):
        return "yesno"
    asked = _LEADING_PREPOSITION.sub("", text)
    plural = _PLURAL_WHICH.match(asked)
    words = [word for word in plural.groups() if word] if plural else []
    if words and not _is_verb(words[0]) and any(_is_plural(word) for word in words):
        return "list"
    if _VALUE.search(text) or _one_thing(words):
        return "value"
    if _LIST.search(asked) or _CONTENTS.search(text):
        return "list"
    if _DEFINITION.search(text):
        return "definition"
    return "fact"


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
