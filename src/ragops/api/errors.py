"""Turn every error into JSON `{"error": {"code", "message", "request_id"}}` with a precise
status; never a stack trace. Unexpected errors are logged once (with the request id) and
answered 500 `internal_error`. A dependency outage is 503 with `Retry-After`: a
`ServiceUnavailable`, a database that cannot be reached (refused or dropped connection:
`database_unavailable`; every pooled connection busy for the pool timeout:
`db_pool_exhausted`) or a refused connection to any other dependency.

A body of another media type than the route reads (JSON, or multipart for uploads), or of
none declared, is a 415 `unsupported_media_type` naming the one it reads (also in
`Accept-Post`/`Accept-Patch`). A body of the right type that cannot be decoded at all (not
UTF-8 JSON, a broken multipart stream) is a 422 `invalid_body` on every route, like a body
that decodes but does not validate. A method a path
does not serve is a 405 whose `Allow` names every method of every route on that path; a plain
`OPTIONS` request (not a CORS preflight) is answered 204 with the same `Allow`.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, params
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from ragops.documents.errors import IngestError
from ragops.errors import RagopsError
from ragops.observability.context import current_request_id, request_id_var

logger = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


POOL_RETRY_AFTER_SECONDS = 5


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The error document every endpoint answers with."""
    return {
        "error": {"code": code, "message": message, "request_id": current_request_id(), **extra}
    }


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """A JSON error response."""
    return JSONResponse(
        status_code=status, content=error_body(code, message, **extra), headers=headers
    )


# FastAPI's answer (400) to a body it cannot decode; ragops answers those 422 like the rest.
_UNPARSABLE_BODY = "There was an error parsing the body"
_ANSWERED = "ragops_error_answered"


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on the request's path, plus OPTIONS (asked of the
    router itself, method by method, on a clean scope)."""
    scope = request.scope
    allowed = []
    for method in _METHODS:
        probe: Scope = {
            "type": "http",
            "method": method,
            "path": scope["path"],
            "root_path": scope.get("root_path", ""),
            "headers": [],
            "query_string": b"",
        }
        if any(route.matches(probe)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return [*allowed, "OPTIONS"]


class AnsweredErrorGuard:
    """Outermost layer: Starlette re-raises an unexpected error after its handler answered
    (and logged) it, so that the server can log it; here it stops, so the traceback is in
    the log once, with its request id, instead of twice."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception:
            if not scope.get("state", {}).get(_ANSWERED):
                raise


def media_type_refusal(request: Request) -> JSONResponse | None:
    """415 naming the media type the route reads, when a request's body is of another one
    (or of none declared); None when the route reads no body or the type is the right one."""
    body_field = getattr(request.scope.get("route"), "body_field", None)
    if body_field is None:
        return None
    headers = request.headers
    if headers.get("content-length", "0") == "0" and "transfer-encoding" not in headers:
        return None  # no body at all: a missing field, 422
    declared = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if isinstance(body_field.field_info, params.Form):
        expected = "multipart/form-data"
        if declared == expected:
            return None
    else:
        expected = "application/json"
        if declared == expected or (
            declared.startswith("application/") and declared.endswith("+json")
        ):
            return None
    message = f"body: the request body is {declared or 'of no type'}; this route reads {expected}"
    header = "Accept-Patch" if request.method == "PATCH" else "Accept-Post"
    return error_response(415, "unsupported_media_type", message, headers={header: expected})


def _message(error: Any) -> str:
    """A validation error's message, in the client's terms rather than a library's."""
    message = str(error.get("msg", "invalid"))
    if "Expected UploadFile" in message:  # a multipart text field where a file goes
        return "must be a file (a multipart part with a filename), not a text field"
    return message


def _describe(errors: list[Any]) -> str:
    parts = []
    for error in errors[:5]:
        location = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body",))
        parts.append(f"{location or 'body'}: {_message(error)}")
    return "; ".join(parts) or "invalid request"


RETRY_AFTER_SECONDS = "5"
"""What a 503 of a dependency outage asks clients to wait before retrying."""


def database_unavailable(exc: BaseException) -> bool:
    """Whether a database error means the database cannot be reached now (pool timeout,
    refused or dropped connection), as opposed to a bug or a constraint."""
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc.__cause__ or exc.__context__, OSError | ConnectionError)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on `app`, and the guard that keeps an answered error from being
    logged a second time by the server."""
    build_stack = app.build_middleware_stack

    def build_with_guard() -> ASGIApp:
        return AnsweredErrorGuard(build_stack())

    app.build_middleware_stack = build_with_guard  # type: ignore[method-assign]

    @app.exception_handler(RagopsError)
    async def _ragops(_: Request, exc: RagopsError) -> JSONResponse:
        response = error_response(exc.status, exc.code, exc.message)
        if exc.status == 503:
            response.headers["Retry-After"] = RETRY_AFTER_SECONDS
        return response

    @app.exception_handler(SQLAlchemyError)
    async def _database(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        if not database_unavailable(exc):
            return await _unexpected(request, exc)
        logger.warning("database unavailable: %s", type(exc).__name__)
        response = error_response(
            503, "database_unavailable", "the database cannot be reached; retry shortly"
        )
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
        return response

    @app.exception_handler(IngestError)
    async def _ingest(_: Request, exc: IngestError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, filename=exc.filename)

    @app.exception_handler(PoolTimeout)
    async def _pool_exhausted(_: Request, exc: PoolTimeout) -> JSONResponse:
        # Every pooled connection stayed busy for RAGOPS_DB_POOL_TIMEOUT seconds: overload,
        # not a bug. Tell the client to come back instead of answering 500.
        logger.warning("database pool exhausted: %s", exc)
        response = error_response(
            503, "db_pool_exhausted", "the service is overloaded (no free database connection)"
        )
        response.headers["Retry-After"] = str(POOL_RETRY_AFTER_SECONDS)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        refused = media_type_refusal(request)
        if refused is not None:
            return refused
        errors = list(exc.errors())
        details = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": _message(e)} for e in errors[:20]
        ]
        if any(e.get("type") == "json_invalid" for e in errors):
            message = "body: the request body is not valid JSON"
            return error_response(422, "invalid_body", message, details=details)
        return error_response(422, "validation_error", _describe(errors), details=details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            allow = ", ".join(allowed_methods(request))
            if request.method == "OPTIONS":
                return Response(status_code=204, headers={"Allow": allow})
            message = f"{request.method} is not allowed here; allowed: {allow}"
            return error_response(405, "method_not_allowed", message, headers={"Allow": allow})
        if exc.status_code == 400 and isinstance(exc.__context__, MultiPartException):
            message = f"body: the form could not be read: {exc.detail}"
            return error_response(
                422, "invalid_body", message, details=[{"loc": ["body"], "msg": str(exc.detail)}]
            )
        if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:
            message = "body: the request body could not be decoded (malformed JSON or not UTF-8)"
            return error_response(
                422, "invalid_body", message, details=[{"loc": ["body"], "msg": "undecodable"}]
            )
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        response = error_response(exc.status_code, code, message)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(ConnectionError)
    async def _unreachable(_: Request, exc: ConnectionError) -> JSONResponse:
        logger.warning("dependency unreachable: %s", type(exc).__name__)
        response = error_response(
            503, "service_unavailable", "a dependency cannot be reached; retry shortly"
        )
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette answers unhandled errors outside every user middleware, after the
        # request-id middleware has reset its context: take the id from the request state.
        request_id = request.scope.get("state", {}).get("request_id") or current_request_id()
        token = request_id_var.set(request_id)
        request.scope.setdefault("state", {})[_ANSWERED] = True
        try:
            logger.error("unhandled error", exc_info=exc)
        finally:
            request_id_var.reset(token)
        body = {
            "error": {
                "code": "internal_error",
                "message": "an internal error occurred",
                "request_id": request_id,
            }
        }
        return JSONResponse(status_code=500, content=body, headers={"X-Request-ID": request_id})
