"""Turn every error into JSON `{"error": {"code", "message", "request_id"}}` with a precise
status; never a stack trace. Unexpected errors are logged (with the request id) and answered
500 `internal_error`. A dependency outage is 503 with `Retry-After`: a `ServiceUnavailable`,
a database that cannot be reached (pool timeout, refused or dropped connection:
`database_unavailable`) or a refused connection to any other dependency."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

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


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The error document every endpoint answers with."""
    return {
        "error": {"code": code, "message": message, "request_id": current_request_id(), **extra}
    }


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    """A JSON error response."""
    return JSONResponse(status_code=status, content=error_body(code, message, **extra))


def _describe(errors: list[Any]) -> str:
    parts = []
    for error in errors[:5]:
        location = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body",))
        parts.append(f"{location or 'body'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


RETRY_AFTER_SECONDS = "5"
"""What a 503 of a dependency outage asks clients to wait before retrying."""


def database_unavailable(exc: BaseException) -> bool:
    """Whether a database error means the database cannot be reached now (pool timeout,
    refused or dropped connection), as opposed to a bug or a constraint."""
    if isinstance(exc, SQLAlchemyTimeoutError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc.__cause__ or exc.__context__, OSError | ConnectionError)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on `app`."""

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

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        details = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in errors[:20]
        ]
        return error_response(422, "validation_error", _describe(errors), details=details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
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
