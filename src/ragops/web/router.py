"""The chat page at `/`: one static HTML file, no build step."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

_PAGE = files("ragops.web").joinpath("static/index.html")


@router.get("/", response_class=HTMLResponse)
async def chat_page() -> HTMLResponse:
    """The chat page."""
    return HTMLResponse(_PAGE.read_text(encoding="utf-8"))
