"""HTTP routes of the chat API: ask (whole or streamed), sessions and feedback."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse

from ragops.api.deps import RequestIdDep, RuntimeDep, TenantDep, require_scope
from ragops.api.errors import error_body
from ragops.api.openapi import ErrorBody
from ragops.chat import service, sessions
from ragops.chat.degraded import degraded_header
from ragops.chat.models import ChatRequest, ChatResponse, FeedbackCreate, FeedbackRead, SessionRead
from ragops.errors import RagopsError

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["chat"])

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse(event: str, data: dict[str, Any]) -> str:
    """One Server-Sent Event."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post(
    "/chat",
    dependencies=[require_scope("chat")],
    response_model=ChatResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "The answer; with `stream: true`, Server-Sent Events: `start`, "
            "`token`..., possibly `reset` (discard tokens so far), then `done` carrying the "
            "whole response, or `error`.",
        },
        404: {"model": ErrorBody, "description": "Unknown session or collection"},
        409: {"model": ErrorBody, "description": "The session belongs to another collection"},
        422: {"model": ErrorBody, "description": "Empty, over-long or invalid question"},
    },
)
async def chat(
    body: ChatRequest, runtime: RuntimeDep, tenant_id: TenantDep, request_id: RequestIdDep
) -> Response:
    """Answer a question with citations, optionally continuing a session."""
    deps = runtime.chat_deps
    if not body.stream:
        result = await service.answer(
            deps,
            tenant_id=tenant_id,
            question=body.question,
            session_id=body.session_id,
            collection=body.collection,
            request_id=request_id,
        )
        return Response(
            result.model_dump_json(),
            media_type="application/json",
            headers={"X-Cache": result.cache, **degraded_header(result)},
        )
    prepared = await service.prepare(
        deps,
        tenant_id=tenant_id,
        question=body.question,
        session_id=body.session_id,
        collection=body.collection,
    )

    async def events() -> AsyncIterator[str]:
        try:
            async for event, data in service.answer_events(
                deps, tenant_id=tenant_id, prepared=prepared, request_id=request_id
            ):
                yield sse(event, data)
        except RagopsError as exc:
            yield sse("error", error_body(exc.code, exc.message))
        except Exception:
            logger.exception("streamed answer failed")
            yield sse("error", error_body("internal_error", "the answer could not be completed"))

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={**SSE_HEADERS, "X-Cache": prepared.cache_status},
    )


@router.get(
    "/sessions/{session_id}", dependencies=[require_scope("chat")], response_model=SessionRead
)
async def get_session(runtime: RuntimeDep, tenant_id: TenantDep, session_id: str) -> SessionRead:
    """A session with its questions and cited answers."""
    return await sessions.get_session(runtime.db, tenant_id=tenant_id, session_id=session_id)


@router.delete("/sessions/{session_id}", dependencies=[require_scope("chat")], status_code=204)
async def delete_session(runtime: RuntimeDep, tenant_id: TenantDep, session_id: str) -> Response:
    """Delete a session, its messages and their feedback."""
    await sessions.delete_session(runtime.db, tenant_id=tenant_id, session_id=session_id)
    return Response(status_code=204)


@router.post(
    "/messages/{message_id}/feedback",
    dependencies=[require_scope("chat")],
    response_model=FeedbackRead,
    status_code=201,
)
async def give_feedback(
    runtime: RuntimeDep, tenant_id: TenantDep, message_id: str, body: FeedbackCreate
) -> FeedbackRead:
    """Record an up or down verdict on an answer (replacing an earlier one)."""
    return await sessions.give_feedback(
        runtime.db, tenant_id=tenant_id, message_id=message_id, feedback=body
    )
