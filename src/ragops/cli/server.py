"""The server beside the CLI: `ragops serve` writes `<data_dir>/server.json` (its local URL and
process id, `ragops.server_state`) while it runs and removes it when it stops; the other
commands read it to find a live server on the same data and go through its HTTP API, since the
embedded vector store admits one process at a time.

`--url` (`RAGOPS_API_URL`) names a server explicitly, `--api-key` (`RAGOPS_API_KEY`) the key
to send. A file whose process is gone (a killed server) is ignored.

Once the application has started, the objects built so far (modules, models, settings, the
runtime's components) are moved out of the garbage collector's reach (`gc.freeze`): they live
as long as the process, and without this every older-generation collection walks all of them
again: with exact cache hits at 800 a second, the collector's CPU fell from 0.12 to 0.03 ms a
request (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import traceback
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from ragops.server_state import remove_state

logger = logging.getLogger(__name__)


def startup_failure(exc: BaseException) -> str | None:
    """One line saying why the server could not start when the cause is the configuration or
    a dependency (a database or vector store refused, unreachable or unprepared), None for
    anything else (a bug keeps its traceback)."""
    from sqlalchemy.exc import SQLAlchemyError

    from ragops.errors import RagopsError

    if isinstance(exc, RagopsError):
        reason = exc.message
    elif isinstance(exc, OSError):
        reason = f"cannot reach {_dependency(exc)}: {exc}"
    elif isinstance(exc, SQLAlchemyError):
        reason = f"cannot use the database: {exc}"
    else:
        return None
    return "cannot start: " + " ".join(reason.split())


_CLIENTS = {
    "asyncpg": "the database",
    "aiosqlite": "the database",
    "sqlalchemy": "the database",
    "redis": "Redis",
    "qdrant_client": "the vector store",
    "httpx": "a server",
}


def _dependency(exc: BaseException) -> str:
    """Which dependency `exc` (a connection error) came from, by the client library whose
    code raised it (the innermost one wins)."""
    named = "a dependency"
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in frames:
        parts = Path(frame.filename).parts
        for package, name in _CLIENTS.items():
            if "site-packages" in parts and package in parts:
                named = name
    return named


class _StartupTraceback(logging.Filter):
    """Drops the traceback uvicorn logs for a failed startup that `startup_failure` already
    told in one line (it is logged at debug level instead)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Traceback (most recent call last)")


def wrap_lifespan(
    app: Any,
    data_dir: Path,
    say: Callable[[str], None],
    fail: Callable[[str], None] | None = None,
) -> None:
    """Around `app`'s lifespan: say when the demo corpus is in (whatever the log level), and
    remove the announcement when the lifespan ends (uvicorn re-raises SIGTERM after a graceful
    shutdown, so code after `uvicorn.run` does not run then). A startup that fails for a
    reason `startup_failure` knows is told to `fail` in one line, without uvicorn's
    traceback; uvicorn then exits as for any failed startup (status 3)."""
    inner = app.router.lifespan_context

    async def tell(demo: Any) -> None:
        await demo.done.wait()
        if demo.status == "ready":
            say(f"answers are ready: the demo corpus is in ({demo.ingested} files)")

    @asynccontextmanager
    async def lifespan(target: Any) -> AsyncIterator[Any]:
        try:
            async with _told(inner(target)) as state:
                gc.collect()
                gc.freeze()  # see the module docstring
                demo = getattr(target.state, "demo_corpus", None)
                teller = asyncio.create_task(tell(demo)) if demo is not None else None
                try:
                    yield state
                finally:
                    if teller is not None:
                        teller.cancel()
        finally:
            remove_state(data_dir)

    @asynccontextmanager
    async def _told(context: Any) -> AsyncIterator[Any]:
        entered = False
        try:
            async with context as state:
                entered = True
                yield state
        except Exception as exc:
            line = None if entered else startup_failure(exc)
            if line is None or fail is None:
                raise
            logger.debug("startup failed", exc_info=True)
            fail(line)
            logging.getLogger("uvicorn.error").addFilter(_StartupTraceback())
            raise

    app.router.lifespan_context = lifespan
