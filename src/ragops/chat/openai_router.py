"""The OpenAI-compatible API: `GET /v1/models` (one model per collection, and
`GET /v1/models/{model}` for one) and
`POST /v1/chat/completions` (streaming and not), so the official `openai` client and chat
front ends speaking that protocol can use ragops as their model.

Answers carry their citations in an extra top-level `citations` field (and in the last chunk
when streaming), plus `ragops` metadata: mode, request id and timings. The conversation's
earlier turns are the follow-up context; nothing is stored server-side.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse

from ragops.api.deps import RequestIdDep, RuntimeDep, TenantDep, require_scope
from ragops.api.errors import error_body
from ragops.api.openapi import ErrorBody
from ragops.chat import outcome, service
from ragops.chat.degraded import degraded_header
from ragops.chat.generation import Generated
from ragops.chat.models import Citation
from ragops.chat.openai_models import CompletionRequest, ModelCard, ModelList
from ragops.documents import catalog
from ragops.errors import NotFoundError, RagopsError, ValidationFailed
from ragops.providers.llm import ChatMessage

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["openai-compatible"])


@router.get("/models", dependencies=[require_scope("chat")], response_model=ModelList)
async def list_models(runtime: RuntimeDep, tenant_id: TenantDep) -> ModelList:
    """One model per collection of the caller's tenant (the default collection always)."""
    collections = await catalog.list_collections(db=runtime.db, tenant_id=tenant_id)
    cards = {
        c.name: ModelCard(id=c.name, created=int(c.created_at.timestamp())) for c in collections
    }
    default = runtime.settings.default_collection
    cards.setdefault(default, ModelCard(id=default, created=0))
    return ModelList(data=sorted(cards.values(), key=lambda card: card.id))


@router.get(
    "/models/{model}",
    dependencies=[require_scope("chat")],
    response_model=ModelCard,
    responses={404: {"model": ErrorBody, "description": "No such collection"}},
)
async def retrieve_model(model: str, runtime: RuntimeDep, tenant_id: TenantDep) -> ModelCard:
    """One model, as `GET /v1/models` lists it: the collection of that name (404
    `collection_not_found` when the tenant has none; the default collection always exists)."""
    listed = await list_models(runtime, tenant_id)
    for card in listed.data:
        if card.id == model:
            return card
    raise NotFoundError(f"collection {model!r} not found", code="collection_not_found")


INSTRUCTIONS = ("system", "developer")
"""Roles that instruct the model rather than speak in the conversation: ragops keeps its own
prompt, so they are ignored wherever they stand."""


QUESTION_CHECKS = ("empty_question", "question_too_long")
"""Refusals of the question's text, whose message names the field it came from."""


def _conversation(body: CompletionRequest) -> tuple[int, list[ChatMessage]]:
    """Where the question is (the last message, which must be the user's; instructions
    aside) and the earlier user and assistant turns. A conversation ending with an assistant
    message (a continuation to write) or a tool result (an answer to a tool call ragops never
    makes) has no question for ragops to answer: 422 naming that message's role."""
    spoken = [i for i, m in enumerate(body.messages) if m.role not in INSTRUCTIONS]
    if not spoken:
        raise ValidationFailed(
            "messages: no user message; the conversation must end with the user's question",
            code="no_question",
        )
    last = spoken[-1]
    if body.messages[last].role != "user":
        raise ValidationFailed(
            f"messages[{last}].role: the conversation must end with a user message (the "
            f"question to answer), not {body.messages[last].role!r}: ragops does not continue "
            "an assistant's message or read tool results",
            code="no_question",
        )
    history = [
        ChatMessage(role="user" if m.role == "user" else "assistant", content=m.text())
        for m in body.messages[:last]
        if m.role in ("user", "assistant")
    ]
    return last, history


def _usage(prepared: service.Prepared, generated: Generated) -> dict[str, int]:
    prompt = generated.prompt_tokens or sum(len(p.text.split()) for p in prepared.passages)
    completion = generated.completion_tokens or len(generated.text.split())
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _extras(
    citations: list[Citation], prepared: service.Prepared, generated: Generated, request_id: str
) -> dict[str, Any]:
    return {
        "citations": [c.model_dump() for c in citations],
        "ragops": {
            "mode": generated.mode,
            "cache": prepared.cache_status,
            "request_id": request_id,
            "fallback_reason": generated.fallback_reason,
            "degraded": generated.fallback_reason is not None,
            "timings": {
                "embed_ms": round(prepared.embed_ms, 2),
                "retrieve_ms": round(prepared.retrieve_ms, 2),
                "generate_ms": round(generated.generate_ms, 2),
                "total_ms": round((time.perf_counter() - prepared.started) * 1000, 2),
            },
        },
    }


@router.post(
    "/chat/completions",
    dependencies=[require_scope("chat")],
    responses={404: {"model": ErrorBody, "description": "Unknown model (collection)"}},
)
async def chat_completions(
    body: CompletionRequest, runtime: RuntimeDep, tenant_id: TenantDep, request_id: RequestIdDep
) -> Response:
    """Answer the conversation's last user message from the collection named by `model`."""
    deps = runtime.chat_deps
    asked, history = _conversation(body)
    try:
        prepared = await service.prepare_conversation(
            deps,
            tenant_id=tenant_id,
            question=body.messages[asked].text(),
            history=history,
            collection=body.model,
        )
    except ValidationFailed as exc:
        if exc.code in QUESTION_CHECKS:  # "the question is empty": name where it stands
            exc.message = f"messages[{asked}].content: {exc.message}"
        raise
    collection = prepared.collection
    cache_header = {"X-Cache": prepared.cache_status}
    completion_id = f"chatcmpl-{request_id}"
    created = int(time.time())
    if not body.stream:
        generated = await service.generate(deps, prepared)
        citations = outcome.answer_citations(deps, prepared, generated)
        payload = {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": collection,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": generated.text},
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(prepared, generated),
            **_extras(citations, prepared, generated, request_id),
        }
        await outcome.remember(
            deps, tenant_id=tenant_id, prepared=prepared, generated=generated, citations=citations
        )
        return Response(
            json.dumps(payload),
            media_type="application/json",
            headers={**cache_header, **degraded_header(generated)},
        )

    include_usage = body.stream_options is not None and body.stream_options.include_usage

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        data = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": collection,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    async def events() -> AsyncIterator[str]:
        yield chunk({"role": "assistant", "content": ""})
        generated: Generated | None = None
        try:
            async for kind, value in service.stream_answer(deps, prepared, allow_reset=False):
                if kind == "token" and isinstance(value, str):
                    yield chunk({"content": value})
                elif kind == "final" and isinstance(value, Generated):
                    generated = value
        except RagopsError as exc:
            yield f"data: {json.dumps(error_body(exc.code, exc.message))}\n\n"
            return
        except Exception:
            logger.exception("streamed completion failed")
            body_ = error_body("internal_error", "the answer could not be completed")
            yield f"data: {json.dumps(body_)}\n\n"
            return
        if generated is not None:
            cited = outcome.answer_citations(deps, prepared, generated)
            yield chunk({}, "stop", **_extras(cited, prepared, generated, request_id))
            await outcome.remember(
                deps, tenant_id=tenant_id, prepared=prepared, generated=generated, citations=cited
            )
            if include_usage:
                usage_chunk = {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": collection,
                    "choices": [],
                    "usage": _usage(prepared, generated),
                }
                yield f"data: {json.dumps(usage_chunk)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **cache_header},
    )
