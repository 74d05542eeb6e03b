"""Install observability on the application: request metrics, tracing, error reporting."""

from __future__ import annotations

from fastapi import FastAPI

from ragops.config import Settings


def install_observability(app: FastAPI, settings: Settings) -> None:
    """Add metrics middleware, tracing and Sentry to `app` as configured."""
