"""The chat page at `/`: one static HTML file, no build step. The page is told whether the
API needs a key (`<meta name="ragops-auth">`), so that it calls the API only once it can."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

_PAGE = files("ragops.web").joinpath("static/index.html")


_AUTH_META = '<meta name="ragops-auth" content="required">'


@router.get("/", response_class=HTMLResponse)
async def chat_page(request: Request) -> HTMLResponse:
    """The chat page."""
    page = _PAGE.read_text(encoding="utf-8")
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is not None and not runtime.settings.auth_enabled:
        page = page.replace(_AUTH_META, _AUTH_META.replace("required", "off"))
    return HTMLResponse(page)
