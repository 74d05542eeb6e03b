"""HTTP routes of documents and collections: upload, list, show, delete."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile
from fastapi.responses import JSONResponse

from ragops.api.deps import AuditDep, RuntimeDep, TenantDep, require_scope
from ragops.api.errors import RETRY_AFTER_SECONDS, error_response
from ragops.api.openapi import ERROR_REF, ErrorBody
from ragops.api.openapi import responses as error_responses
from ragops.config.names import COLLECTION_NAME_RE, validate_collection_name
from ragops.documents import catalog, service
from ragops.documents.batch import ingest_batch
from ragops.documents.errors import IngestError
from ragops.documents.extract import safe_display_name, safe_source_name
from ragops.documents.models import (
    CollectionRead,
    DocumentList,
    DocumentRead,
    IngestBatchResult,
    IngestFailure,
    IngestOutcome,
)
from ragops.errors import RagopsError, ServiceUnavailable, ValidationFailed
from ragops.jobs import service as jobs
from ragops.jobs.models import JobRead
from ragops.jobs.queue import JobQueue
from ragops.jobs.router import job_queue
from ragops.schema import MAX_DB_INT

router = APIRouter(prefix="/v1", tags=["documents"])

MAX_FILES_PER_UPLOAD = 50
# Stated in the schema; checked by `_collection_or_error` (422 invalid_collection).
COLLECTION_PATTERN = COLLECTION_NAME_RE.pattern


def _source(given: str | None, filename: str | None) -> str:
    """A file's source name: its `sources` field, else (none given, or one that names no file,
    such as "" or "..") the file's own name without folders."""
    if given is not None and re.search(r"[^\s./\\]", re.sub(r"^[A-Za-z]:", "", given)):
        return safe_source_name(given)
    return safe_display_name(filename or "upload")


def _collection_or_error(name: str) -> str:
    try:
        return validate_collection_name(name)
    except ValueError as exc:
        raise ValidationFailed(str(exc), code="invalid_collection") from exc


def _audit_file(outcome: IngestOutcome) -> dict[str, str | None]:
    return {
        "filename": outcome.filename,
        "status": outcome.status,
        "document_id": outcome.document.id if outcome.document else None,
        "error": outcome.error.code if outcome.error else None,
    }


@router.post(
    "/documents",
    dependencies=[require_scope("ingest")],
    response_model=IngestBatchResult,
    responses={
        **error_responses(409),
        202: {"model": JobRead, "description": "Queued as a background job (`async=true`)"},
        413: {"model": ErrorBody, "description": "A file is over the size limit"},
        415: {"model": ErrorBody, "description": "Unsupported file type"},
        422: {
            "description": "A file could not be read, or no file succeeded (with several "
            "files: every outcome), or the request is invalid",
            "content": {
                "application/json": {
                    "schema": {
                        "anyOf": [
                            {"$ref": ERROR_REF},
                            {"$ref": "#/components/schemas/IngestBatchResult"},
                        ]
                    }
                }
            },
        },
    },
)
async def upload_documents(
    runtime: RuntimeDep,
    tenant_id: TenantDep,
    audit: AuditDep,
    files: Annotated[list[UploadFile], File(description="One or more txt, md, html or pdf files")],
    collection: Annotated[
        str | None,
        Form(
            max_length=63,
            json_schema_extra={"pattern": f"^$|{COLLECTION_PATTERN}"},
            description="The collection; absent or empty: the default one.",
        ),
    ] = None,
    sources: Annotated[
        list[str] | None,
        Form(
            description="Optional, one per file in order: the document's source name, a "
            "relative path such as guides/setup.md (the CLI sends these); default: the file's "
            "name without folders"
        ),
    ] = None,
    background: Annotated[
        bool,
        Query(
            alias="async",
            description="Ingest as a background job: answers 202 with the job at once; "
            "follow it at GET /v1/jobs/{id}",
        ),
    ] = False,
    queue: JobQueue = Depends(job_queue),  # noqa: B008 - FastAPI's dependency idiom
) -> Response:
    """Ingest uploaded files. Per-file outcomes; a bad file does not stop the others.

    With one file, a failure answers with that file's status (415, 413, 429, 503 or 422); with
    several, the answer is 200 when any file succeeded, 503 (with `Retry-After`) when every
    file failed on a dependency outage, else 422, and lists every outcome.

    With `async=true` (or uploads over `RAGOPS_INGEST_ASYNC_ABOVE_BYTES` in total) the files
    are stored and ingested by a background job: the answer is 202 with the job, whose
    progress and per-file outcomes `GET /v1/jobs/{id}` shows; a file over the size limit then
    refuses the whole upload (413).
    """
    name = _collection_or_error(collection or runtime.settings.default_collection)
    if len(files) > MAX_FILES_PER_UPLOAD:
        raise ValidationFailed(
            f"at most {MAX_FILES_PER_UPLOAD} files per upload", code="too_many_files"
        )
    if sources is not None and len(sources) != len(files):
        raise ValidationFailed(
            f"sources: {len(sources)} given for {len(files)} files; give one per file",
            code="invalid_sources",
        )
    limit = runtime.settings.max_upload_bytes
    batch: list[tuple[str, bytes, str | None]] = []
    early: dict[int, IngestOutcome] = {}
    statuses: dict[int, int] = {}
    for position, upload in enumerate(files):
        filename = _source(sources[position] if sources is not None else None, upload.filename)
        if upload.size is not None and upload.size > limit:
            early[position] = IngestOutcome(
                filename=filename,
                status="error",
                error=IngestFailure(
                    code="too_large",
                    message=f"{filename}: {upload.size} bytes is over the limit of {limit}",
                ),
            )
            statuses[position] = 413
            continue
        data = await upload.read(limit + 1)
        batch.append((filename, data, upload.content_type))
    threshold = runtime.settings.ingest_async_above_bytes
    if background or (threshold and sum(len(data) for _, data, _ in batch) > threshold):
        if early:
            first = early[min(early)]
            assert first.error is not None
            return error_response(413, first.error.code, first.error.message)
        return await _queue_job(runtime, tenant_id, audit, queue, name, batch)
    results = await ingest_batch(
        runtime.ingest_deps, tenant_id=tenant_id, collection=name, files=batch
    )
    merged: list[IngestOutcome] = []
    ingested = iter(results)
    for position in range(len(files)):
        merged.append(early[position] if position in early else next(ingested))
    body = IngestBatchResult(results=merged)
    await audit.record(
        "documents.ingest",
        target=name,
        outcome="success" if any(o.status != "error" for o in merged) else "failure",
        detail={"files": [_audit_file(outcome) for outcome in merged]},
    )
    if any(outcome.status != "error" for outcome in merged):
        return JSONResponse(body.model_dump(mode="json"), status_code=200)
    # A dependency outage is 503 with Retry-After, whether one file or several failed on it.
    retry = {"Retry-After": RETRY_AFTER_SECONDS}
    if len(merged) == 1 and merged[0].error is not None:
        status = statuses.get(0) or IngestError.status_for(merged[0].error.code)
        return error_response(
            status,
            merged[0].error.code,
            merged[0].error.message,
            filename=merged[0].filename,
            headers=retry if status == 503 else None,
        )
    if all(o.error is not None and o.error.code == "service_unavailable" for o in merged):
        failure = merged[0].error
        message = failure.message if failure is not None else "a dependency is down"
        return error_response(503, "service_unavailable", message, headers=retry)
    return JSONResponse(body.model_dump(mode="json"), status_code=422)


async def _queue_job(
    runtime: RuntimeDep,
    tenant_id: str,
    audit: AuditDep,
    queue: JobQueue,
    collection: str,
    files: list[tuple[str, bytes, str | None]],
) -> Response:
    """Store the files as a background job and queue it; 202 with the job."""
    job = await jobs.create_job(runtime.db, tenant_id=tenant_id, collection=collection, files=files)
    try:
        await queue.enqueue(job.id)
    except Exception as exc:  # e.g. Redis unreachable: leave no job that nothing will run
        await jobs.delete_job(runtime.db, job.id)
        raise ServiceUnavailable("the job queue is unavailable; retry shortly") from exc
    await audit.record(
        "documents.ingest_job",
        target=collection,
        detail={"job_id": job.id, "files": [source for source, _, _ in files]},
    )
    return JSONResponse(
        job.model_dump(mode="json"), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"}
    )


@router.get(
    "/documents",
    dependencies=[require_scope("chat")],
    response_model=DocumentList,
    responses={404: {"model": ErrorBody, "description": "No such collection"}},
)
async def list_documents(
    runtime: RuntimeDep,
    tenant_id: TenantDep,
    collection: Annotated[
        str | None, Query(max_length=63, json_schema_extra={"pattern": COLLECTION_PATTERN})
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_DB_INT)] = 0,
) -> DocumentList:
    """The tenant's documents, newest first; of one collection when `collection` is given (404
    `collection_not_found` when the tenant has no such collection; an existing collection
    without documents, or the default one, lists none)."""
    if collection is not None:
        await catalog.require_collection(
            db=runtime.db,
            tenant_id=tenant_id,
            name=_collection_or_error(collection),
            default=runtime.settings.default_collection,
        )
    return await catalog.list_documents(
        db=runtime.db, tenant_id=tenant_id, collection=collection, limit=limit, offset=offset
    )


@router.get(
    "/documents/{document_id}", dependencies=[require_scope("chat")], response_model=DocumentRead
)
async def get_document(runtime: RuntimeDep, tenant_id: TenantDep, document_id: str) -> DocumentRead:
    """One document's metadata."""
    return await catalog.get_document(db=runtime.db, tenant_id=tenant_id, document_id=document_id)


@router.delete("/documents/{document_id}", dependencies=[require_scope("ingest")], status_code=204)
async def delete_document(
    runtime: RuntimeDep, tenant_id: TenantDep, audit: AuditDep, document_id: str
) -> Response:
    """Delete a document, its chunks and its vectors."""
    try:
        await service.delete_document(
            db=runtime.db, store=runtime.store, tenant_id=tenant_id, document_id=document_id
        )
    except RagopsError as exc:
        await audit.record(
            "documents.delete", target=document_id, outcome="failure", detail={"code": exc.code}
        )
        raise
    await audit.record("documents.delete", target=document_id)
    return Response(status_code=204)


@router.get(
    "/collections", dependencies=[require_scope("chat")], response_model=list[CollectionRead]
)
async def list_collections(runtime: RuntimeDep, tenant_id: TenantDep) -> list[CollectionRead]:
    """The tenant's collections with document counts."""
    return await catalog.list_collections(db=runtime.db, tenant_id=tenant_id)
