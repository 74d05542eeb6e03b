"""Words of questions and passages as the extractive answerer compares them.

`terms` lowercases, drops stopwords and stems (Snowball, English); a token such as
`ragops-page`, `db_pool` or `RagopsDBPoolWaiters` also yields its parts, a few common
abbreviations and variants map to the word the documents use ("db" -> database, "storage" ->
store), and a "%" sign reads as the word "percent". `question_terms` adds
the joined forms of neighbouring question words ("roll back" -> "rollback") and leaves out
what a question sets aside ("besides the burn-rate alerts").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import snowballstemmer

_STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    s t don isn aren doesn also may might must shall tell please want know need use using used
    get got one two someone something anyone anything now happen happens way""".split()
)
_SYNONYMS = {
    "db": "databas",
    "postgr": "postgresql",
    "postgresql": "postgresql",
    "pg": "postgresql",
    "config": "configur",
    "auth": "authent",
    "repo": "repositori",
    "env": "environ",
    "llm": "llm",
    "docs": "document",
    "doc": "document",
    "k8s": "kubernet",
    "deploy": "deploy",
    "paged": "page",
    "pager": "page",
    "paging": "page",
    "storage": "store",
    "pct": "percent",
}
"""Abbreviations and variants mapped to the stem of the word the documents use."""
_WORD = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return str(_stemmer().stemWord(word))


_CAMEL = re.compile(r"\b[A-Za-z]*[a-z][A-Z][A-Za-z]*\b")
_CAMEL_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+")


@lru_cache(maxsize=4096)
def _cached_terms(text: str) -> tuple[str, ...]:
    return tuple(_terms(text))


def terms(text: str) -> list[str]:
    """Lowercased, stemmed words of `text` without stopwords (version-like tokens kept);
    a token such as `ragops-page`, `db_pool` or `RagopsDBPoolWaiters` also yields its parts."""
    return list(_cached_terms(text))


def _terms(text: str) -> list[str]:
    text = text.replace("%", " percent ")  # "80 %" and "80 percent" say the same
    camel = " ".join(" ".join(_CAMEL_PART.findall(w)) for w in _CAMEL.findall(text))
    out: list[str] = []
    for word in _WORD.findall(f"{text} {camel}".lower()):
        if word in _STOPWORDS:
            continue
        out.append(_SYNONYMS.get(word) or _stem(word))
        if any(c in word for c in "-_"):
            out.extend(
                _SYNONYMS.get(part) or _stem(part)
                for part in re.split(r"[-_]", word)
                if part and part not in _STOPWORDS and not part.isdigit()
            )
    return out


def joined_terms(question: str) -> dict[str, tuple[str, str]]:
    """Each joined pair of neighbouring question words ("rollback") and the parts' terms."""
    question = without_excluded(question)
    words = [w for w in _WORD.findall(question.lower()) if w not in _STOPWORDS]
    plain = set(terms(question))
    out: dict[str, tuple[str, str]] = {}
    for a, b in zip(words, words[1:], strict=False):
        word = _stem(a + b)
        if word not in plain:
            out[word] = (_SYNONYMS.get(a) or _stem(a), _SYNONYMS.get(b) or _stem(b))
    return out


_EXCLUDED = re.compile(
    r"\b(?:besides|except(?:\s+for)?|apart\s+from|aside\s+from|other\s+than|excluding|"
    r"not\s+counting|leaving\s+out)\s+[^?.!;,]*",
    re.IGNORECASE,
)


def without_excluded(question: str) -> str:
    """`question` without what it sets aside ("which alerts exist besides the burn-rate
    alerts?" asks for alerts, not for the burn-rate ones)."""
    return _EXCLUDED.sub(" ", question)


def question_terms(question: str) -> list[str]:
    """The terms of a question, each once, with joined neighbours ("roll back" -> "rollback")
    as alternatives; what the question sets aside (`without_excluded`) is left out."""
    question = without_excluded(question)
    words = [w for w in _WORD.findall(question.lower()) if w not in _STOPWORDS]
    asked = list(dict.fromkeys(terms(question)))
    joined = [_stem(a + b) for a, b in zip(words, words[1:], strict=False)]
    return asked + [j for j in dict.fromkeys(joined) if j not in asked]


MIN_TITLE_TERMS = 2
"""A document's title names the text before its first heading only with this many terms: a
one-word title ("Alerting") is the topic of every question about the page."""


def heading_terms(section: str) -> set[str]:
    """The terms of the last heading of a heading path ("A > B > Scaling"); for a document's
    top heading alone, its title's terms when there are MIN_TITLE_TERMS or more ("Command
    line"), else none."""
    parts = [p for p in section.split(">") if p.strip()]
    if not parts:
        return set()
    found = set(terms(parts[-1]))
    return found if len(parts) > 1 or len(found) >= MIN_TITLE_TERMS else set()


def names_heading(asked: Iterable[str], section: str) -> bool:
    """Whether question terms `asked` name the section: every term of its last heading is
    asked ("Scaling" for "how do I scale ragops horizontally?")."""
    heading = heading_terms(section)
    return bool(heading) and heading <= set(asked)


def named_terms(asked: Iterable[str], section: str) -> int:
    """How many terms of a section's heading the question names: of two named sections,
    the one named by more words is the one meant ("Command line" over "Commands")."""
    return len(heading_terms(section) & set(asked))
