"""Words of questions and passages as the extractive answerer compares them.

`terms` lowercases, drops stopwords and stems (Snowball, English); a token such as
`ragops-page`, `db_pool` or `RagopsDBPoolWaiters` also yields its parts, a few common
abbreviations and variants map to the word the documents use ("db" -> database, "storage" ->
store), and a "%" sign reads as the word "percent". `question_terms` adds
the joined forms of neighbouring question words ("roll back" -> "rollback", "back up" ->
"backup", "on call" -> "oncall") and leaves out what a question sets aside ("besides the
burn-rate alerts") and its filler phrases ("right now", "find out").
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
    s t m d ll re ve don isn aren doesn didn wasn weren hasn haven hadn couldn wouldn shouldn
    also may might must shall tell please want know need use using used
    get got one two someone something anyone anything now happen happens way
    whats hows whos wheres whens whys thats theres heres im ive youre weve theyre dont doesnt
    didnt isnt arent wasnt werent hasnt havent cant couldnt wouldnt shouldnt wont""".split()
)
"""The last two lines are contractions typed without their apostrophe ("whats", "dont"), as
people type questions: each is the stopwords it stands for."""
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


_NEGATION = re.compile(r"\b[A-Za-z]+n['\u2019]t\b", re.IGNORECASE)
"""A negative contraction ("won't", "can't", "shouldn't"): an auxiliary, which asks for
nothing; split at its apostrophe it left a piece ("won") that no passage holds."""


def without_negations(text: str) -> str:
    """`text` without its negative contractions (`_NEGATION`)."""
    return _NEGATION.sub(" ", text)


def _terms(text: str) -> list[str]:
    text = without_negations(text.replace("%", " percent "))  # "80 %" is "80 percent"
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


_PARTICLES = frozenset("up down in on out off over".split())
"""Particles that make one word with their neighbour in the documents' spelling: "back up" is
"backup", "on call" is "oncall", "fail over" is "failover", "log in" is "login"."""


def _joined_pairs(question: str) -> list[tuple[str, str]]:
    """The neighbouring question words that may be written as one: two words that are not
    stopwords, next to each other once stopwords are left out ("roll back"), and a word and a
    particle next to it ("back up", "on call")."""
    raw = _WORD.findall(asked_part(question).lower())
    words = [w for w in raw if w not in _STOPWORDS]
    pairs = list(zip(words, words[1:], strict=False))
    for a, b in zip(raw, raw[1:], strict=False):
        if (a in _PARTICLES) != (b in _PARTICLES) and (a not in _STOPWORDS or b not in _STOPWORDS):
            pairs.append((a, b))
    return pairs


def joined_terms(question: str) -> dict[str, tuple[str, str]]:
    """Each joined pair of neighbouring question words ("rollback", "backup") and the parts'
    terms (a particle's own stem is never asked for, so it counts for nothing)."""
    plain = set(terms(asked_part(question)))
    out: dict[str, tuple[str, str]] = {}
    for a, b in _joined_pairs(question):
        word = _stem(a + b)
        if word not in plain and a + b not in _STOPWORDS:
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


_FILLER = re.compile(
    r"\b(?:right\s+now|at\s+the\s+moment|at\s+present|find\s+out|figure\s+out|"
    r"(?:seems?|seemed|appears?|appeared)\s+to|keeps?(?=\s+\w+ing\b)|actually|really)\b",
    re.IGNORECASE,
)
_MAKE_SURE = re.compile(r"\bmake\s+sure\b", re.IGNORECASE)
""""Make sure" is what the pages call "verify" ("make sure a backup can be restored")."""
"""Phrases of spoken questions that ask for nothing ("how do I find out who is on call right
now?" asks who is on call; "it keeps answering 503" says it answers 503; "requests seem to
come from one address" that they come from it): their words are in few passages, so they
would weigh most."""


def asked_part(question: str) -> str:
    """`question` without what it sets aside (`without_excluded`) and without filler phrases
    ("right now", "find out", "actually") and negative contractions ("won't"); "make sure"
    reads as "verify"."""
    asked = without_negations(without_excluded(question))
    return _MAKE_SURE.sub("verify", _FILLER.sub(" ", asked))


def question_terms(question: str) -> list[str]:
    """The terms of a question, each once, with joined neighbours ("roll back" -> "rollback",
    "back up" -> "backup") as alternatives; what the question sets aside and its filler
    phrases (`asked_part`) are left out."""
    return list(_question_terms(question))


@lru_cache(maxsize=1024)
def _question_terms(question: str) -> tuple[str, ...]:
    """`question_terms`, memoised: answering one question asks for its terms once for each
    candidate passage's heading (`chat.sections.names_section`), a few hundred times."""
    asked = list(dict.fromkeys(terms(asked_part(question))))
    joined = list(joined_terms(question))
    order = [w for w in _ORDER_WORDS if w in _WORD.findall(asked_part(question).lower())]
    return (*asked, *[j for j in joined if j not in asked], *order)


_ORDER_WORDS = ("before", "after", "during")
"""Stopwords that a heading may be titled by ("Before you start", "After the restore"): they
count in heading matching (`heading_terms`, and `question_terms` keeps them), never in a
passage's words, so they weigh nothing in scoring."""
_ORDER_GENERIC = frozenset({"start", "begin"})
"""Words that say nothing after an order word: "Before you start" is before the page's own
task, whatever the question calls it."""


MIN_TITLE_TERMS = 2
"""A document's title names the text before its first heading only with this many terms: a
one-word title ("Alerting") is the topic of every question about the page."""


def heading_terms(section: str) -> set[str]:
    """The terms of the last heading of a heading path ("A > B > Scaling"), with the order
    word that titles it ("before" of "Before you start", for which "start" says nothing);
    for a document's top heading alone, its title's terms when there are MIN_TITLE_TERMS or
    more ("Command line"), else none."""
    return set(_heading_terms(section))


@lru_cache(maxsize=4096)
def _heading_terms(section: str) -> frozenset[str]:
    """`heading_terms`, memoised (the same few hundred headings are read for every question)."""
    parts = [p for p in section.split(">") if p.strip()]
    if not parts:
        return frozenset()
    found = set(terms(parts[-1]))
    if len(parts) > 1:
        order = {w for w in _WORD.findall(parts[-1].lower()) if w in _ORDER_WORDS}
        return frozenset((found - _ORDER_GENERIC) | order if order else found)
    return frozenset(found if len(found) >= MIN_TITLE_TERMS else ())


def names_heading(asked: Iterable[str], section: str) -> bool:
    """Whether question terms `asked` name the section: every term of its last heading is
    asked ("Scaling" for "how do I scale ragops horizontally?")."""
    heading = _heading_terms(section)
    return bool(heading) and heading <= set(asked)


def names_order(asked: Iterable[str], section: str) -> bool:
    """Whether the question names a section by the order word that titles it ("before" of
    "Before you start"): of the sections it names, that one answers what comes before or
    after the task the others are titled by."""
    return bool(_heading_terms(section) & set(asked) & set(_ORDER_WORDS))


def named_terms(asked: Iterable[str], section: str) -> int:
    """How many terms of a section's heading the question names: of two named sections,
    the one named by more words is the one meant ("Command line" over "Commands")."""
    return len(_heading_terms(section) & set(asked))


_NAME_TOKEN = re.compile(r"[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*")
_SENTENCE_BREAK = re.compile(r"[.!?:;]\s*$")
_MARKED = re.compile(r"[A-Z].*[A-Z]|[a-z][A-Z]|[A-Za-z].*\d|\d.*[A-Za-z]")
"""A token that is a name wherever it stands: an acronym or product spelling (MySQL, API,
HikariCP, SHA-256), not a capitalised ordinary word."""
_ACRONYM_PLURAL = re.compile(r"^([A-Z]{2,})s$")
_SEPARATORS = re.compile(r"[._-]")


def names(question: str) -> list[str]:
    """The names a question mentions: each token written with a capital letter that does not
    start a sentence ("Oracle", "Kafka"), and each acronym or mixed-case spelling anywhere
    ("MySQL", "API", "SHA-256"); "I" and what the question sets aside are left out. A
    capitalised first word is read as an ordinary word ("Which", "Backups")."""
    question = without_excluded(question)
    found: list[str] = []
    for match in _NAME_TOKEN.finditer(question):
        token = match.group(0)
        if token == "I" or not any(c.isupper() for c in token):
            continue
        before = question[: match.start()]
        starts = not before.strip() or _SENTENCE_BREAK.search(before) is not None
        if _MARKED.search(token) or not starts:
            found.append(token)
    return list(dict.fromkeys(found))


def name_forms(name: str) -> tuple[set[str], str | None]:
    """The spellings under which a name is found in a text, lowercased ("sha-256" and
    "sha256"; "api" for "APIs"), and the stem of the word it abbreviates or varies, if any
    ("databas" for "DB", "postgresql" for "Postgres"). A name is matched as written, not by
    its stem: "Windows" is not found in a text about time windows."""
    plural = _ACRONYM_PLURAL.match(name)
    whole = (plural.group(1) if plural else name).lower()
    spellings = {whole, _SEPARATORS.sub("", whole)}
    return spellings, _SYNONYMS.get(whole) or _SYNONYMS.get(_stem(whole))


@lru_cache(maxsize=4096)
def _spellings(text: str) -> frozenset[str]:
    """The lowercased words of `text`, whole, without separators and split at them."""
    found: set[str] = set()
    for word in _WORD.findall(text.lower()):
        found.add(word)
        found.add(_SEPARATORS.sub("", word))
        found.update(part for part in _SEPARATORS.split(word) if part)
    return frozenset(found)


def name_text(passage: Any) -> str:
    """Where a name may stand in a passage (anything with a `text`; `title` and `section` are
    used when present): its title, heading path and text, code included. The one text that
    `missing_names` checks, for the answerer and for the search of passages holding a name."""
    title = getattr(passage, "title", "") or ""
    section = getattr(passage, "section", "") or ""
    return f"{title}\n{section}\n{passage.text}"


def missing_names(question: str, texts: Iterable[str]) -> list[str]:
    """The names of `question` (`names`) that none of `texts` holds: a question about a
    product the texts never mention ("migrate a MySQL schema to Oracle") is not answered by
    them, however many of its other words they share."""
    return absent_names(names(question), texts)


def holds_name(name: str, text: str) -> bool:
    """Whether `text` holds `name` as `missing_names` reads it."""
    return not absent_names([name], [text])


def absent_names(asked: list[str], texts: Iterable[str]) -> list[str]:
    """Those of the names `asked` that none of `texts` holds (see `missing_names`)."""
    if not asked:
        return []
    texts = list(texts)
    spelled: set[str] = set()
    for text in texts:
        spelled |= _spellings(text)
    stems: set[str] | None = None
    missing = []
    for name in asked:
        spellings, stem = name_forms(name)
        parts = [part for part in _SEPARATORS.split(name.lower()) if part]
        if spellings & spelled or all(part in spelled for part in parts):
            continue
        if stem is not None:
            if stems is None:
                stems = {term for text in texts for term in terms(text)}
            if stem in stems:
                continue
        missing.append(name)
    return missing
