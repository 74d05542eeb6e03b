"""The scope check: a question about something the indexed documents never mention is not
answered, however close its other words come to a page.

The extractive answerer refuses a question that names a product (a capitalised word, an
acronym) no retrieved passage mentions, or whose terms its passages barely cover. A near-topic
question written in lower case ("can i run the embedder on a gpu with cuda?") passes both: its
other words are the corpus's own, and its passages are close in meaning. What marks it is a
word that the whole collection never uses.

`unknown_words` picks the question's content words that the retrieved passages do not hold:
not stopwords nor question boilerplate ("possible", "support"), letters only, three or more of
them. A word counts as held when a passage holds its stem or a word one typo away (one letter
inserted, deleted or replaced, or two neighbours swapped; for words of MIN_TYPO_LETTERS
letters or more, first letter kept); a word of the answerer's synonym table ("storage" ->
store) is never unknown. Those few words are looked up in the collection's sparse (BM25)
index (`Retriever.word_uses`: one single-term search each, RARE_USES + 1 ids at most, no
payload), and only when the answer can matter.
The question is out of scope (`refuses`) when one of them is never used anywhere in the
collection and no passage is `settings.scope_cosine` close to the question (0.4 on MiniLM, the
answerer's own bar for a question put in other words; each embedder has its own,
`config.retrieval.EMBEDDER_BARS`), or when UNUSED_WORDS of them are, unless a passage that
close holds HELD_PER_UNUSED of the question's content words for each unused one: the question
is then mostly that passage's subject in the asker's everyday words ("somebody deleted a pile
of rows ... from our backups"), where two foreign subjects leave a question few words of the
passage's ("crawl a sharepoint site"). When no passage is that close, a word that the
collection uses in at most RARE_USES chunk, none of them retrieved, refuses as an unused one
does: the question names a subject the collection mentions once in passing elsewhere ("turn on
two-factor authentication for admin accounts"), not what its passages are about. The chat
service then drops its passages, so it is answered as a question that retrieved nothing is.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence

import structlog

from ragops.chat.shapes import similarity
from ragops.chat.terms import terms, without_negations
from ragops.providers.vectorstore import SearchScope
from ragops.retrieval.service import Passage, Retriever
from ragops.retrieval.sparse import STOPWORDS, analyze

__all__ = [
    "HELD_PER_UNUSED",
    "MIN_TYPO_LETTERS",
    "RARE_USES",
    "UNUSED_WORDS",
    "in_scope",
    "out_of_scope",
    "refuses",
    "unknown_words",
]

log = structlog.get_logger(__name__)

MIN_TYPO_LETTERS = 6
"""A word this long is taken as a typo of a passage word one edit away; a shorter one is not
("slack" is one edit from "stack" and names something else)."""
MIN_LETTERS = 3
UNUSED_WORDS = 2
"""This many words the collection never uses put a question out of scope however close in
meaning its passages are (unless one holds HELD_PER_UNUSED words of the question for each):
one may be a synonym, two are another subject."""
HELD_PER_UNUSED = 2
"""A passage scope_cosine close that holds this many of the question's content words for each
unused one lets UNUSED_WORDS unused words through: they are the asker's own words around the
passage's subject. Chosen on the tune questions and the select half (docs/performance.md)."""
RARE_USES = 1
"""Without a passage scope_cosine close, a word of the question that no retrieved passage holds
and at most this many chunks of the collection use (none of them retrieved) puts it out of
scope, as an unused word does. Chosen on logs of the check's inputs (docs/performance.md,
"Words used once elsewhere"): 2 refused an in-scope question written in everyday words."""

_BOILERPLATE = frozenset(
    """able actually allow allowed allows always anyway automatically available basically
    across along among come currently does doing done ever exactly exist exists explain
    feature features fine go going good happen help hey hi kind let lets like look make many
    mean means much often okay ok onto option options per please possible possibly really
    right say see seem set sort still support supported supports sure thank thanks thing
    things think toward towards try upon via way ways within without work works yes
    best easiest easily fastest quickest quickly simplest simply""".split()
)
"""Words that frame a question rather than name its subject; never a reason to refuse. The
last line asks for a manner ("the quickest way to roll back"), not for another subject."""
_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*")


def _content_words(question: str) -> list[str]:
    """The lowercased content words of `question`, each once, in order."""
    words = []
    for raw in _WORD.findall(without_negations(question)):
        word = raw.lower().split("'")[0].split("’")[0]
        if (
            len(word) >= MIN_LETTERS
            and word not in STOPWORDS
            and word not in _BOILERPLATE
            and terms(word)  # the answerer's stopwords ("need", "use", "get") are left out
        ):
            words.append(word)
    return list(dict.fromkeys(words))


def _one_edit(a: str, b: str) -> bool:
    """Whether `b` is `a` with one letter inserted, deleted, replaced, or two neighbours
    swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) < len(b):
        return a[i:] == b[i + 1 :]
    if a[i + 1 :] == b[i + 1 :]:
        return True
    return a[i + 2 :] == b[i + 2 :] and a[i : i + 2] == b[i : i + 2][::-1]


def _typo_of(word: str, vocabulary: Iterable[str]) -> bool:
    if len(word) < MIN_TYPO_LETTERS:
        return False
    return any(
        other[0] == word[0] and abs(len(other) - len(word)) <= 1 and _one_edit(word, other)
        for other in vocabulary
    )


def unknown_words(question: str, texts: Sequence[str]) -> list[str]:
    """The content words of `question` that none of `texts` (the retrieved passages) holds,
    by stem, by an abbreviation's meaning or within a typo (see the module docstring)."""
    words = _content_words(question)
    if not words:
        return []
    stems: set[str] = set()
    spelled: set[str] = set()
    for text in texts:
        stems.update(terms(text))
        spelled.update(w.lower() for w in _WORD.findall(text))
    unknown = []
    for word in words:
        mapped, stemmed = set(terms(word)), set(analyze(word))
        if word in spelled or (mapped | stemmed) & stems or mapped - stemmed:
            continue  # held, or a word of the synonym table (it maps to the documents' word)
        if _typo_of(word, spelled):
            continue
        unknown.append(word)
    return unknown


def held_words(question: str, text: str) -> int:
    """How many of the content words of `question` the passage `text` holds (as
    `unknown_words` holds them)."""
    return len(_content_words(question)) - len(unknown_words(question, [text]))


def refuses(unused: Sequence[str], similar: bool, held: int = 0) -> bool:
    """Whether words the collection never uses put a question out of scope: one when no
    passage is scope_cosine close to the question (a single unknown word beside a passage
    close in meaning is often the asker's own word for the corpus's: "beefier" machines for
    "bigger" instances); UNUSED_WORDS or more unless such a passage holds `held` >=
    HELD_PER_UNUSED x their number of the question's content words."""
    if not unused:
        return False
    if not similar:
        return True
    return len(unused) >= UNUSED_WORDS and held < HELD_PER_UNUSED * len(unused)


async def out_of_scope(
    question: str,
    texts: Sequence[str],
    close: Sequence[str],
    uses: Callable[[Sequence[str]], Awaitable[dict[str, list[str]]]],
    retrieved: Collection[str] = (),
) -> list[str]:
    """The words of `question` that put it out of scope, else []: those the whole collection
    never uses (`refuses`) or, when no passage is close, those it uses in at most RARE_USES
    chunk that is not among `retrieved` (their ids). `texts` are the retrieved passages,
    `close` those of them `settings.scope_cosine` close to the question, `uses` the
    collection's lookup (`Retriever.word_uses` for the question's scope: the ids of up to
    RARE_USES + 1 chunks using each word); it is called only when its answer can matter."""
    candidates = unknown_words(question, texts)
    similar = bool(close)
    held = 0
    if similar and len(candidates) >= UNUSED_WORDS:
        held = max(held_words(question, text) for text in close)
    if not refuses(candidates, similar, held):
        return []
    found = await uses(candidates)
    unused = [word for word in candidates if word in found and not found[word]]
    if refuses(unused, similar, held):
        return unused
    if similar:
        return []
    here = set(retrieved)
    return [
        word
        for word in candidates
        if 0 < len(found.get(word, ())) <= RARE_USES and here.isdisjoint(found[word])
    ]


async def in_scope(
    retriever: Retriever, scope: SearchScope, question: str, passages: list[Passage]
) -> list[Passage]:
    """`passages`, or none when `question` is out of scope of the collection within `scope`
    (`out_of_scope`): the extractive answer then says that nothing was found."""
    texts = [f"{p.title}\n{p.section}\n{p.text}" for p in passages]
    bar = retriever.settings.scope_cosine
    close = [text for p, text in zip(passages, texts, strict=True) if similarity(p) >= bar]
    words = await out_of_scope(
        question,
        texts,
        close,
        lambda asked: retriever.word_uses(asked, scope, RARE_USES + 1),
        {p.chunk_id for p in passages},
    )
    if words:
        log.info("question_out_of_scope", words=words)
        return []
    return passages
