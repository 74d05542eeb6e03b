"""Install the HTTP security layer on the application (CORS, headers, rate limits)."""

from __future__ import annotations

from fastapi import FastAPI

from ragops.config import Settings


def install_security(app: FastAPI, settings: Settings) -> None:
    """Add the security middleware to `app`."""
