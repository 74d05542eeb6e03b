"""`POST /v1/ops/backups`: the running server backs itself up.

The embedded vector store belongs to the server process (one process per store), so a backup
of a running instance is taken by the server itself: `ragops backup create` beside a running
server calls this route. It writes into the server's backup directory (`RAGOPS_BACKUP_DIR`,
never a path from the request) and streams its progress as JSON lines: `{"step", "done",
"total"}` per step, then one `{"result": ...}` or `{"error": ...}` line. Admin scope of the
default (operator) tenant only: a backup holds every tenant's data.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import Field, StrictBool

from ragops.api.deps import AuditDep, RuntimeDep, require_operator
from ragops.backup.service import BackupError, BackupResult, backup_dir, create_backup
from ragops.schema import NOT_BOOLEAN, RequestModel

router = APIRouter(prefix="/v1/ops", tags=["backups"], dependencies=[require_operator()])


class BackupRequest(RequestModel):
    """Options of a backup taken by the server."""

    model_config = {"extra": "forbid"}

    keep: Annotated[int, Field(ge=1, le=1000), NOT_BOOLEAN] | None = Field(
        None, description="Keep this many newest backups."
    )
    encrypt: StrictBool | None = Field(None, description="Encrypt (default: when a key is set).")


def result_json(result: BackupResult) -> dict[str, Any]:
    """The API's and the CLI's view of a finished backup."""
    manifest = result.manifest
    return {
        "path": str(result.path),
        "bytes": result.path.stat().st_size,
        "seconds": round(result.seconds, 3),
        "encrypted": result.path.name.endswith(".enc"),
        "pruned": [p.name for p in result.pruned],
        "manifest": manifest.model_dump(mode="json", exclude={"files"}),
        "files": len(manifest.files),
    }


PROGRESS_LINES = {
    "description": "Progress as JSON lines: `{step, done, total}` per step, then one "
    "`{result}` or `{error}` line.",
    "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
}


@router.post(
    "/backups",
    response_class=StreamingResponse,
    responses={200: PROGRESS_LINES, 403: {"description": "Not the operator tenant."}},
)
async def create(
    runtime: RuntimeDep, audit: AuditDep, body: BackupRequest | None = None
) -> StreamingResponse:
    """Back up this instance (database and vectors) into its backup directory; the body (every
    option optional) may be left out."""
    options = body or BackupRequest()
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    async def work() -> None:
        try:
            result = await create_backup(
                settings=runtime.settings,
                store=runtime.store,
                directory=backup_dir(runtime.settings),
                keep=options.keep,
                encrypt=options.encrypt,
                progress=lambda step, done, total: queue.put_nowait(
                    {"step": step, "done": done, "total": total}
                ),
            )
        except BackupError as exc:
            await audit.record("ops.backup.create", outcome="failure", detail={"error": str(exc)})
            queue.put_nowait({"error": str(exc)})
        else:
            await audit.record(
                "ops.backup.create", target=result.path.name, detail={"pruned": len(result.pruned)}
            )
            queue.put_nowait({"result": result_json(result)})
        finally:
            queue.put_nowait(None)

    task = asyncio.create_task(work())

    async def lines() -> AsyncIterator[bytes]:
        try:
            while (item := await queue.get()) is not None:
                yield (json.dumps(item) + "\n").encode("utf-8")
        finally:
            await task  # a backup is never abandoned half-way by a dropped connection

    return StreamingResponse(lines(), media_type="application/x-ndjson")
