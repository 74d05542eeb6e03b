"""Logging: structlog over the standard library, JSON lines in production and readable
console lines in development, each carrying the request id, and every line redacted.

Redaction removes API keys, bearer tokens, passwords and the credentials of connection
strings from the message and from every field before a line is written.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import structlog

from ragops.config import Settings
from ragops.observability.context import request_id_var, tenant_id_var
from ragops.observability.tracing import current_trace_id

REDACTED = "[REDACTED]"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # scheme://user:password@host -> scheme://user:[REDACTED]@host
    (
        re.compile(r"(?P<pre>\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+(?=@)", re.I),
        r"\g<pre>" + REDACTED,
    ),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + REDACTED),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), REDACTED),
    (re.compile(r"\brgo_[A-Za-z0-9_-]{16,}"), REDACTED),
    (
        re.compile(
            r"(?i)\b(api[_-]?key|apikey|x-api-key|password|passwd|pwd|secret|token|"
            r"authorization|routing[_-]?key|dsn)\b(\s*[:=]\s*|\"\s*:\s*\")"
            # not the scheme of a placeholder ("Authorization: Bearer <key>" in a hint)
            r"(?!bearer\s+<[a-z_-]+>(?![\w<-]))([^\s\"',;&]+)"
        ),
        r"\1\2" + REDACTED,
    ),
]

_SENSITIVE_KEYS = re.compile(
    r"(?i)(pass(word|wd)?|secret|token|api[_-]?key|authorization|cookie|dsn|routing[_-]?key)"
)


_MAY_HOLD_SECRET = re.compile(
    r"(?i)://|bearer|sk-|rgo_|api[_-]?key|apikey|password|passwd|pwd|secret|token|"
    r"authorization|routing[_-]?key|dsn"
)
"""What every pattern of `_PATTERNS` needs in the text (a scheme's `://`, the word `bearer`,
a key's prefix, or one of the field names): a text without any of them is left as it is by
all of them, so one search spares the five substitutions on most fields of a line (an
access-log line at INFO cost about 70 us, 40 % of it redaction; docs/performance.md)."""


_NEEDLES = (
    "://", "bearer", "sk-", "rgo_", "api", "passw", "pwd", "secret", "token",
    "authorization", "routing", "dsn",
)  # fmt: skip
"""Pieces of which every match of `_MAY_HOLD_SECRET` holds one, in lower case: on ASCII text
(where ignoring case is lowering it) a few substring tests stand for the pattern's search, which
tries every alternative at every position."""


def _may_hold_secret(text: str) -> bool:
    """Whether `_MAY_HOLD_SECRET` may match `text` (False: it does not)."""
    if text.isascii():
        lowered = text.lower()
        for needle in _NEEDLES:
            if needle in lowered:
                return True
        return False
    return _MAY_HOLD_SECRET.search(text) is not None


def redact_text(text: str) -> str:
    """`text` with every secret-looking value replaced by [REDACTED]."""
    if not _may_hold_secret(text):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


@lru_cache(maxsize=4096)
def _sensitive_key(key: str) -> bool:
    """Whether a field's name says its value is a secret (field names are few: remembered)."""
    return _SENSITIVE_KEYS.search(key) is not None


def redact_value(key: str, value: Any) -> Any:
    """A log field's value, redacted by its key's name and by its content."""
    if _sensitive_key(key) and value not in (None, "", False):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(key, v) for v in value]
    return value


def _plain(event_dict: MutableMapping[str, Any]) -> bool:
    """Whether the redaction would change no field of `event_dict`: no field is named like a
    secret, none holds a container, and the text of all its strings together has none of what
    every pattern needs (a field that has it gives it to the whole), one search for a line
    instead of one a field."""
    texts = []
    for key, value in event_dict.items():
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, dict | list | tuple):
            return False
        if key != "event" and _sensitive_key(key):
            return False
    return not _may_hold_secret("\n".join(texts))


def _redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    if _plain(event_dict):
        return event_dict
    for key in list(event_dict):
        event_dict[key] = redact_value(key, event_dict[key]) if key != "event" else event_dict[key]
    if isinstance(event_dict.get("event"), str):
        event_dict["event"] = redact_text(event_dict["event"])
    return event_dict


def _context(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    request_id = request_id_var.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    tenant_id = tenant_id_var.get()
    if tenant_id is not None:
        event_dict.setdefault("tenant_id", tenant_id)
    if "trace_id" not in event_dict:
        trace_id = current_trace_id()
        if trace_id is not None:
            event_dict["trace_id"] = trace_id
    return event_dict


def use_json(settings: Settings) -> bool:
    """Whether lines are JSON (production or explicitly asked) or console text."""
    if settings.log_format == "auto":
        return settings.environment == "production"
    return settings.log_format == "json"


@dataclass(frozen=True)
class LineChain:
    """What `configure_logging` set up, for a writer that renders a structlog line itself
    (`observability.access_line`): the processors a structlog line runs before it is handed to
    standard logging (`pre`, less the level filter), those the handler's formatter runs after
    (`post`, less the removal of its own record keys), and that handler and formatter."""

    pre: Sequence[Any]
    post: Sequence[Any]
    handler: logging.StreamHandler[Any]
    formatter: logging.Formatter


_chain: LineChain | None = None


def line_chain() -> LineChain | None:
    """The chain of the last `configure_logging`, or None before it ran."""
    return _chain


def configure_logging(settings: Settings) -> None:
    """Route standard logging and structlog through one redacting formatter on stderr."""
    global _chain
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _context,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json(settings)
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    post: list[Any] = [structlog.processors.format_exc_info, _redact, renderer]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *post],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.set_name("ragops")
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if h.get_name() != "ragops"]
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    for noisy in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    structlog.configure(
        # filter_by_level first: a line below the level costs no time stamp or context
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    _chain = LineChain(pre=tuple(shared), post=tuple(post), handler=handler, formatter=formatter)
