"""The access-log line without the standard logging chain: `DirectLogger` renders a line with
the very processors `configure_logging` set up (context, level, logger name, time stamp,
request and trace ids, redaction, the JSON or console renderer) and writes it to the `ragops`
handler's stream in one write, under the handler's lock.

A line through structlog and standard logging (a bound logger, the level filter, a log record,
the handlers of every logger up to the root, the formatter's copies) cost an exact cache hit
more CPU than the rest of its logging; the line itself is the same either way. The direct way is
taken only where it changes nothing but the cost: the logger is enabled for the line's level,
the root's only handler is the one `configure_logging` installed, with its own formatter, no
filter and no higher level, no logger on the way has a handler, a filter or stops propagation,
and standard logging is not patched (Sentry's logging integration patches it to turn records
into breadcrumbs). Otherwise, or if rendering fails, the line goes the standard way as any
other, so a handler added by a deployment, a test's capture or Sentry still sees it.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

from ragops.observability.logging import LineChain, line_chain

_METHODS = ("handle", "callHandlers", "makeRecord", "_log")
_STANDARD_METHODS = [getattr(logging.Logger, name) for name in _METHODS]
"""The methods a record passes through, as standard logging has them: a logger class of
structlog's (which only finds the caller differently) keeps them; one that overrides them, or
a patch (Sentry's of `callHandlers`), sends the line the standard way."""

_CALL_HANDLERS = logging.Logger.callHandlers

_STDLIB = all(method.__module__ == "logging" for method in _STANDARD_METHODS)
"""False if something patched standard logging before this module was imported."""


def _direct(logger: logging.Logger, chain: LineChain, level: int) -> bool:
    """Whether a line of `logger` at `level` would reach the chain's handler and nothing else."""
    handler = chain.handler
    if not (
        _STDLIB
        and _STANDARD_METHODS == [getattr(type(logger), name) for name in _METHODS]
        and logging.getLogRecordFactory() is logging.LogRecord
        and type(handler) is logging.StreamHandler
        and handler.formatter is chain.formatter
        and not handler.filters
        and handler.level <= level
        and not logger.filters
    ):
        return False
    node: logging.Logger | None = logger
    root = logging.root
    while node is not None:
        if node is root:
            handlers = node.handlers
            return len(handlers) == 1 and handlers[0] is handler
        if node.handlers or not node.propagate:
            return False
        node = node.parent
    return False


class DirectLogger:
    """A logger of one name with structlog's `info` and `warning`, writing its lines directly
    when that is the same as the standard way (module docstring), else the standard way."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._stdlib = logging.getLogger(name)
        self._standard = structlog.get_logger(name)

    def info(self, event: str, **fields: Any) -> None:
        """Log `event` with `fields` at INFO."""
        self._log(logging.INFO, "info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        """Log `event` with `fields` at WARNING."""
        self._log(logging.WARNING, "warning", event, fields)

    def _log(self, level: int, method: str, event: str, fields: dict[str, Any]) -> None:
        logger = self._stdlib
        if not logger.isEnabledFor(level):  # the level filter, as structlog's
            return
        chain = line_chain()
        if (
            chain is None
            or not _direct(logger, chain, level)
            or not self._write(chain, level, method, event, fields)
        ):
            getattr(self._standard, method)(event, **fields)

    def _write(
        self, chain: LineChain, level: int, method: str, event: str, fields: dict[str, Any]
    ) -> bool:
        """Render and write the line; False (nothing written) if rendering failed."""
        logger = self._stdlib
        event_dict: Any = dict(fields)  # the order structlog builds: the fields, then the event
        event_dict["event"] = event
        try:
            for processor in chain.pre:
                event_dict = processor(logger, method, event_dict)
            for processor in chain.post:
                event_dict = processor(logger, method, event_dict)
        except structlog.DropEvent:
            return True
        except Exception:
            return False  # the standard way reports it as a logging error
        if not isinstance(event_dict, str):
            return False
        handler = chain.handler
        handler.acquire()
        try:
            handler.stream.write(event_dict + handler.terminator)
            handler.flush()
        except RecursionError:
            raise
        except Exception:
            handler.handleError(
                logging.makeLogRecord({"name": self.name, "levelno": level, "msg": event})
            )
        finally:
            handler.release()
        return True
