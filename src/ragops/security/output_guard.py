"""The output guard (OWASP LLM02, LLM07): what a generated answer must never contain.

`guard_answer` checks an answer before it leaves: no API key (`rgo_...`, `sk-...`), no run of
`SECRET_FRAGMENT_CHARS` characters of a configured secret, no span of `SYSTEM_SPAN_WORDS`
consecutive words of the system prompt (compared case- and punctuation-insensitively).
`StreamGuard` does the same on a streamed answer, holding back only the end of the text that
could still become a leak, so that no character of a leak is ever sent. Extractive answers
quote documents; `AnswerGuard.redact` replaces key-shaped strings in them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from pydantic import SecretStr

from ragops.config import Settings
from ragops.security.text import normalise

SYSTEM_SPAN_WORDS = 8
"""An answer repeating this many consecutive words of the system prompt leaks it."""
STREAM_CHECK_MARGIN = 400
"""Characters of already-sent text checked again with each new delta of a stream."""
MIN_SECRET_CHARS = 8
SECRET_FRAGMENT_CHARS = 16
"""Any run of this many characters of a configured secret counts as leaking it."""
REDACTED = "[redacted]"

_KEY_FORMATS = re.compile(r"\brgo_[A-Za-z0-9_-]{12,}|\bsk-[A-Za-z0-9_-]{16,}")
_KEY_TAIL = re.compile(r"(?<![A-Za-z0-9_])(?:r|rg|rgo|rgo_[A-Za-z0-9_-]*|s|sk|sk-[A-Za-z0-9_-]*)$")
_WORD = re.compile(r"[a-z0-9]+")
_ASCII_WORD = re.compile(r"[A-Za-z0-9]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(normalise(text).lower())


def _shingles(words: Sequence[str], size: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


@dataclass(frozen=True, slots=True)
class GuardResult:
    """Whether an answer may be sent, and why not."""

    ok: bool
    reasons: tuple[str, ...] = ()


def secret_values(settings: Settings) -> list[str]:
    """The configured secrets an answer must never contain (of a URL: its password)."""
    values: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if not isinstance(value, SecretStr):
            continue
        text = value.get_secret_value()
        if "://" in text:
            text = urlsplit(text).password or ""
        if len(text) >= MIN_SECRET_CHARS:
            values.append(text)
    return values


def _fragments(secret: str) -> set[str]:
    size = min(len(secret), SECRET_FRAGMENT_CHARS)
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


@dataclass
class AnswerGuard:
    """The checks of `guard_answer`, prepared once for one system prompt and secret list."""

    system_prompt: str
    secrets: Sequence[str] = ()
    span_words: int = SYSTEM_SPAN_WORDS
    _prompt_words: list[str] = field(init=False, repr=False)
    _prompt_shingles: set[tuple[str, ...]] = field(init=False, repr=False)
    _fragments: list[set[str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._prompt_words = _words(self.system_prompt)
        self._prompt_shingles = _shingles(self._prompt_words, self.span_words)
        self.secrets = [s for s in self.secrets if len(s) >= MIN_SECRET_CHARS]
        self._fragments = [_fragments(s) for s in self.secrets]

    def _leaks_secret(self, answer: str) -> bool:
        if _KEY_FORMATS.search(answer):
            return True
        for secret, fragments in zip(self.secrets, self._fragments, strict=True):
            size = min(len(secret), SECRET_FRAGMENT_CHARS)
            if any(answer[i : i + size] in fragments for i in range(len(answer) - size + 1)):
                return True
        return False

    def check(self, answer: str) -> GuardResult:
        """Whether `answer` may be sent."""
        reasons: list[str] = []
        if self._leaks_secret(answer):
            reasons.append("secret")
        if self._prompt_shingles & _shingles(_words(answer), self.span_words):
            reasons.append("system_prompt")
        return GuardResult(ok=not reasons, reasons=tuple(reasons))

    def pending_start(self, text: str) -> int:
        """Where the end of `text` that could still grow into a leak begins (`len(text)`
        when nothing could): the part a stream must hold back."""
        start = len(text)
        key = _KEY_TAIL.search(text)
        if key is not None:
            start = key.start()
        for secret in self.secrets:
            for size in range(min(len(secret), SECRET_FRAGMENT_CHARS, len(text)), 0, -1):
                if text[-size:] in secret:
                    start = min(start, len(text) - size)
                    break
        return min(start, self._prompt_run_start(text))

    def _prompt_run_start(self, text: str) -> int:
        """The start of the longest run of final words that continues the system prompt."""
        tail_offset = max(0, len(text) - 600)
        tokens = list(_ASCII_WORD.finditer(text, tail_offset))[-(self.span_words - 1) :]
        if not tokens:
            return len(text)
        partial = tokens[-1].end() == len(text)  # the last word may not be complete yet
        words = [t.group(0).lower() for t in tokens]
        for size in range(len(words), 0, -1):
            if self._continues_prompt(words[-size:], partial):
                return tokens[-size].start()
        return len(text)

    def _continues_prompt(self, run: list[str], partial: bool) -> bool:
        size = len(run)
        for i in range(len(self._prompt_words) - size + 1):
            window = self._prompt_words[i : i + size]
            if window[:-1] != run[:-1]:
                continue
            if window[-1] == run[-1] or (partial and window[-1].startswith(run[-1])):
                return True
        return False

    def redact(self, text: str) -> str:
        """`text` with key-shaped strings and configured secrets replaced by [redacted]
        (for answers quoted from documents, which the guard does not otherwise refuse)."""
        text = _KEY_FORMATS.sub(REDACTED, text)
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text


def guard_answer(answer: str, *, system_prompt: str, secrets: Sequence[str] = ()) -> GuardResult:
    """Check a generated answer: no API key or configured secret, no span of the system
    prompt of `SYSTEM_SPAN_WORDS` words or more."""
    return AnswerGuard(system_prompt, secrets).check(answer)


class StreamGuard:
    """The output guard on a stream: `feed` returns what may be sent now, `finish` the rest.

    Only the end of the text that could still grow into a leak is held back: a key being
    written (`rgo_...`, `sk-...`, or their first letters), the start of a configured secret,
    or a run of words that continues the system prompt. Everything before it is sent at once,
    so an ordinary answer streams word by word. Each delta is checked together with the text
    around it; a leak is caught when it completes, and no character of it has been sent then.
    After a trip, `tripped` holds the result and nothing more is sent.
    """

    def __init__(self, guard: AnswerGuard) -> None:
        self.guard = guard
        self.text = ""
        self.sent = 0
        self.tripped: GuardResult | None = None

    def feed(self, delta: str) -> str:
        """Add `delta`; the text that may be sent now ("" when held back or tripped)."""
        if self.tripped is not None:
            return ""
        self.text += delta
        # Earlier text was checked by earlier calls; a leak ending in the new text starts at
        # or after `sent` (its start was held back), well inside the window.
        window = self.text[max(0, self.sent - STREAM_CHECK_MARGIN) :]
        result = self.guard.check(window)
        if not result.ok:
            self.tripped = result
            return ""
        upto = max(self.sent, self.guard.pending_start(self.text))
        ready, self.sent = self.text[self.sent : upto], upto
        return ready

    def finish(self) -> str:
        """The held-back rest of a stream that did not trip."""
        if self.tripped is not None:
            return ""
        rest, self.sent = self.text[self.sent :], len(self.text)
        return rest
