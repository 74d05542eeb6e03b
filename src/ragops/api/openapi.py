"""The OpenAPI document, completed with the error answers every operation can give.

FastAPI declares the success answer and a 422 of its own shape; ragops answers every error
with one body, `{"error": {"code", "message", "request_id", ...}}` (`ErrorBody`). After
FastAPI builds the document, `install_openapi` declares, on each operation where they can
occur, with that shared schema:

- 401 and 403 on operations with a security requirement (a missing or refused key; a key
  without the route's scope);
- 404 on operations with path parameters (the named thing does not exist);
- 413, 415 and 422 on operations with a request body (too large; another media type than the
  one declared; invalid), 422 on operations with parameters;
- 429 and 503 on every `/v1` operation (the rate limits; load shedding, draining or a
  dependency that is down).

A status a route declares itself (with its own description or body) is left as it is.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

ERROR_REF = "#/components/schemas/ErrorBody"

DESCRIPTIONS = {
    401: "No working API key: missing, unknown, expired or revoked.",
    403: "The API key lacks the scope this operation needs.",
    404: "The thing named does not exist, or is not the caller's to see.",
    409: "The request clashes with the current state.",
    413: "The request body is larger than the limit.",
    415: "The body is not of the media type this operation reads (named in the message).",
    422: "The request is malformed or invalid; the message names the field.",
    429: "A rate limit was reached; `Retry-After` says when to try again.",
    503: "The service is overloaded, draining, or a dependency it needs is down.",
}


class ErrorDetail(BaseModel):
    """One invalid field of a 422 answer."""

    loc: list[str]
    msg: str


class ErrorInfo(BaseModel):
    """What went wrong: a machine-readable code, a message for people, the request id."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(description="Machine-readable, such as `validation_error`.")
    message: str
    request_id: str
    details: list[ErrorDetail] | None = Field(None, description="The invalid fields (422).")
    filename: str | None = Field(None, description="The file an ingest error is about.")


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: ErrorInfo


def error_response(status: int, description: str | None = None) -> dict[str, Any]:
    """An OpenAPI response object with the shared error body."""
    return {
        "description": description or DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
    }


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a route decorator declaring these error answers with `ErrorBody`."""
    return {
        status: {"model": ErrorBody, "description": DESCRIPTIONS[status]} for status in statuses
    }


def _expected_statuses(path: str, operation: dict[str, Any]) -> list[int]:
    statuses: list[int] = []
    if operation.get("security"):
        statuses += [401, 403]
    if "{" in path:
        statuses.append(404)
    if "requestBody" in operation:
        statuses += [413, 415, 422]
    elif operation.get("parameters"):
        statuses.append(422)
    if path.startswith("/v1/"):
        statuses += [429, 503]
    return statuses


def complete_schema(schema: dict[str, Any], *, question_limit: int | None = None) -> dict[str, Any]:
    """Add the shared error schema and the error answers of every operation to `schema`, and
    the configured length limit of a question (`question_limit`) to `ChatRequest`."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    question = components.get("ChatRequest", {}).get("properties", {}).get("question")
    if question is not None and question_limit is not None:
        question["maxLength"] = question_limit
    body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in body.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components["ErrorBody"] = body
    validation_ref = "#/components/schemas/HTTPValidationError"
    for path, item in schema.get("paths", {}).items():
        for operation in item.values():
            answers: dict[str, Any] = operation.setdefault("responses", {})
            for key, answer in answers.items():
                content = answer.get("content", {}).get("application/json", {})
                if content.get("schema", {}).get("$ref") == validation_ref:
                    answers[key] = error_response(int(key))
            for status in _expected_statuses(path, operation):
                answers.setdefault(str(status), error_response(status))
            operation["responses"] = dict(sorted(answers.items()))
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    return schema


def install_openapi(app: FastAPI, *, question_limit: int | None = None) -> None:
    """Make `app.openapi()` return FastAPI's document, completed once (FastAPI caches it)."""
    build = app.openapi
    completed: set[int] = set()

    def openapi() -> dict[str, Any]:
        schema = build()
        if id(schema) not in completed:
            complete_schema(schema, question_limit=question_limit)
            completed.add(id(schema))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
