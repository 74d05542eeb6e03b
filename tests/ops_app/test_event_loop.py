"""A slow vector search does not stall the server: while the embedded engine is busy with a
question's search (made slow here), `/healthz` still answers over real HTTP, in well under
the search's time."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ragops.providers.vectorstore.edge import EdgeVectorStore
from ragops.runtime import Runtime
from tests.conftest import RunningServer
from tests.ops_app.conftest import app_of, ops_settings

DELAY = 5.0  # a blocked event loop would hold /healthz this long


class SlowShard:
    """The real engine shard, whose searches first sleep `DELAY` seconds in their thread."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.entered = threading.Event()
        self.threads: set[str] = set()

    def query(self, request: Any) -> Any:
        self.threads.add(threading.current_thread().name)
        self.entered.set()
        time.sleep(DELAY)
        return self._real.query(request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_healthz_answers_while_a_search_is_slow(tmp_path: Path) -> None:
    running = RunningServer(ops_settings(tmp_path / "var"))
    live = running.start()
    try:
        runtime = app_of(running).state.runtime
        assert isinstance(runtime, Runtime)
        store = runtime.store
        assert isinstance(store, EdgeVectorStore)
        slow = SlowShard(store._shard)  # noqa: SLF001 - slow down the engine, not our code
        store._shard = slow  # type: ignore[assignment]  # noqa: SLF001

        with live.client() as client, ThreadPoolExecutor(1) as pool:
            asked = pool.submit(client.post, "/v1/chat", json={"question": "Where are backups?"})
            assert slow.entered.wait(timeout=60), "the question never reached the engine"
            started = time.perf_counter()
            with live.client() as probe:
                health = probe.get("/healthz")
            elapsed = time.perf_counter() - started
            assert health.status_code == 200
            # Far below DELAY: answered while the search slept (2 s leaves room for a busy CI).
            assert elapsed < 2.0, f"/healthz took {elapsed:.2f} s during a slow search"
            assert not asked.done(), "the search should still be running"
            assert asked.result(timeout=60).status_code == 200
        assert slow.threads and all(t.startswith("ragops-edge") for t in slow.threads)
    finally:
        running.stop()
