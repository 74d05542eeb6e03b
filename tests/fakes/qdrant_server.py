"""A Qdrant REST server on loopback for tests: the HTTP routes ragops's `QdrantVectorStore`
calls, answered by qdrant-client's own local engine (no Qdrant server can be installed here).

The client under test talks real HTTP to it, through the same code as against a Qdrant
server, so a test can stop the server (connections refused) and start it again on the same
port with the data kept (the engine lives in the test process). Routes: list, exists,
create and get collections; create payload indexes (accepted, the local engine has none);
upsert, retrieve, scroll, delete, query and count points.
"""

from __future__ import annotations

import importlib.metadata
import socket
import threading
import time
from typing import Any

import uvicorn
from qdrant_client import QdrantClient
from qdrant_client.http import models
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

VERSION = ".".join(importlib.metadata.version("qdrant-client").split(".")[:2]) + ".0"


def _json(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, list | tuple):
        return [_json(item) for item in value]
    if isinstance(value, dict):
        return {key: _json(item) for key, item in value.items()}
    return value


def _ok(result: Any) -> JSONResponse:
    result = _json(result)
    return JSONResponse({"result": result, "status": "ok", "time": 0.0})


def build_app(engine: QdrantClient, lock: threading.Lock) -> Starlette:
    """The REST routes over `engine` (every call under `lock`: the local engine is not
    thread-safe)."""

    async def root(request: Request) -> JSONResponse:  # the client checks the version
        return JSONResponse({"title": "qdrant - vector search engine", "version": VERSION})

    async def collections(request: Request) -> JSONResponse:
        with lock:
            return _ok(engine.get_collections())

    async def exists(request: Request) -> JSONResponse:
        with lock:
            return _ok({"exists": engine.collection_exists(request.path_params["name"])})

    async def collection(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        if request.method == "GET":
            with lock:
                return _ok(engine.get_collection(name))
        body = models.CreateCollection.model_validate(await request.json())
        with lock:
            created = engine.create_collection(
                name,
                vectors_config=body.vectors,  # type: ignore[arg-type]
                sparse_vectors_config=body.sparse_vectors,
                hnsw_config=body.hnsw_config,
            )
        return _ok(created)

    async def index(request: Request) -> JSONResponse:
        return _ok({"operation_id": 0, "status": "completed"})

    async def points(request: Request) -> JSONResponse:
        if request.method == "POST":  # retrieve by ids
            wanted = models.PointRequest.model_validate(await request.json())
            with lock:
                return _ok(
                    engine.retrieve(
                        request.path_params["name"],
                        ids=wanted.ids,
                        with_payload=wanted.with_payload
                        if wanted.with_payload is not None
                        else True,
                        with_vectors=wanted.with_vector or False,  # type: ignore[arg-type]
                    )
                )
        body = models.PointsList.model_validate(await request.json())
        with lock:
            return _ok(engine.upsert(request.path_params["name"], points=body.points))

    async def scroll(request: Request) -> JSONResponse:
        body = models.ScrollRequest.model_validate(await request.json())
        with lock:
            records, offset = engine.scroll(
                request.path_params["name"],
                scroll_filter=body.filter,
                limit=body.limit or 10,
                offset=body.offset,
                with_payload=body.with_payload if body.with_payload is not None else True,
                with_vectors=body.with_vector or False,  # type: ignore[arg-type]
            )
        return _ok({"points": records, "next_page_offset": offset})

    async def delete(request: Request) -> JSONResponse:
        raw = await request.json()
        selector: Any = (
            models.FilterSelector.model_validate(raw)
            if "filter" in raw
            else models.PointIdsList.model_validate(raw)
        )
        with lock:
            return _ok(engine.delete(request.path_params["name"], points_selector=selector))

    async def query(request: Request) -> JSONResponse:
        body = models.QueryRequest.model_validate(await request.json())
        query: Any = body.query
        if isinstance(query, models.NearestQuery):
            query = query.nearest
        with lock:
            found = engine.query_points(
                request.path_params["name"],
                query=query,
                using=body.using,
                query_filter=body.filter,
                search_params=body.params,
                limit=body.limit or 10,
                with_payload=body.with_payload if body.with_payload is not None else True,
                with_vectors=body.with_vector if body.with_vector is not None else False,  # type: ignore[arg-type]
            )
        return _ok(found)

    async def count(request: Request) -> JSONResponse:
        body = models.CountRequest.model_validate(await request.json())
        with lock:
            counted = engine.count(
                request.path_params["name"], count_filter=body.filter, exact=True
            )
        return _ok(counted)

    return Starlette(
        routes=[
            Route("/", root, methods=["GET"]),
            Route("/collections", collections, methods=["GET"]),
            Route("/collections/{name}/exists", exists, methods=["GET"]),
            Route("/collections/{name}", collection, methods=["GET", "PUT"]),
            Route("/collections/{name}/index", index, methods=["PUT"]),
            Route("/collections/{name}/points", points, methods=["PUT", "POST"]),
            Route("/collections/{name}/points/scroll", scroll, methods=["POST"]),
            Route("/collections/{name}/points/delete", delete, methods=["POST"]),
            Route("/collections/{name}/points/query", query, methods=["POST"]),
            Route("/collections/{name}/points/count", count, methods=["POST"]),
        ]
    )


class QdrantRestServer:
    """The server in a background thread on 127.0.0.1; `stop()` and `start()` may repeat (same
    port, same data)."""

    def __init__(self) -> None:
        self.engine = QdrantClient(location=":memory:")
        self.lock = threading.Lock()
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> QdrantRestServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(build_app(self.engine, self.lock), log_config=None, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the Qdrant REST server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop serving: new connections are refused, open ones closed."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def close(self) -> None:
        self.stop()
        self.engine.close()
