"""FastAPI dependencies shared by every router, exposed as annotated types."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ragops.observability.context import current_request_id
from ragops.runtime import Runtime

DEFAULT_TENANT = "default"


def get_runtime(request: Request) -> Runtime:
    """The process's components, built at start-up."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_tenant() -> str:
    """The tenant whose data the request may see."""
    return DEFAULT_TENANT


def get_request_id() -> str:
    """The id of this request (from `X-Request-ID` or generated)."""
    return current_request_id()


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
TenantDep = Annotated[str, Depends(get_tenant)]
RequestIdDep = Annotated[str, Depends(get_request_id)]
