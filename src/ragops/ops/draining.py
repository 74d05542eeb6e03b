"""Refusing new work while draining, for load balancers that only check passively.

nginx (open source) never reads `/readyz`; it takes a server out of rotation when an attempt
fails. With `RAGOPS_DRAIN_REFUSE_NEW`, from SIGTERM until the server stops listening
(`RAGOPS_DRAIN_SECONDS`), every new request except the operations endpoints is answered 503
`draining` with `Retry-After: 1` and `Connection: close`, before any handler runs: nothing
was done, so the balancer may send it to another instance (nginx does, and marks this one
failed), while requests already in flight finish normally. Without this, connections nginx
opened in the instant the listening socket closes would be reset after the request was sent,
and a non-idempotent request could not be retried.

A refusal is recorded with `route="drain"` (metrics, access line): not `unmatched`, which
means no route matched, and left out of the SLO ratios (docs/observability.md), since the balancer
carries the request to an instance that records its real outcome.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from ragops.errors import send_error
from ragops.observability.http_metrics import DRAIN, is_ops_path, mark_refused

RETRY_AFTER = b"1"


def draining(app: Any) -> bool:
    """Whether the application's operations state says it is draining."""
    ops = getattr(getattr(app, "state", None), "ops", None)
    lifecycle = getattr(ops, "lifecycle", None)
    return bool(getattr(lifecycle, "draining", False))


class DrainRefusalMiddleware:
    """Answer 503 to new non-operations requests while the application drains."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and not is_ops_path(scope.get("path", ""))
            and draining(scope.get("app"))
        ):
            mark_refused(scope, DRAIN)
            await send_error(
                send,
                scope,
                503,
                "draining",
                "this instance is shutting down; retry (another instance will answer)",
                headers=[(b"retry-after", RETRY_AFTER), (b"connection", b"close")],
            )
            return
        await self.app(scope, receive, send)
