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
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from ragops.server_state import remove_state


def wrap_lifespan(app: Any, data_dir: Path, say: Callable[[str], None]) -> None:
    """Around `app`'s lifespan: say when the demo corpus is in (whatever the log level), and
    remove the announcement when the lifespan ends (uvicorn re-raises SIGTERM after a graceful
    shutdown, so code after `uvicorn.run` does not run then)."""
    inner = app.router.lifespan_context

    async def tell(demo: Any) -> None:
        await demo.done.wait()
        if demo.status == "ready":
            say(f"answers are ready: the demo corpus is in ({demo.ingested} files)")

    @asynccontextmanager
    async def lifespan(target: Any) -> AsyncIterator[Any]:
        try:
            async with inner(target) as state:
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

    app.router.lifespan_context = lifespan
