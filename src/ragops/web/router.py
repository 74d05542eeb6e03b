"""The chat page at `/`: one static HTML file, no build step. The page is told whether the
API needs a key (`<meta name="ragops-auth">`), so that it calls the API only once it can, and
which collection a question goes to unless the user picks another
(`<meta name="ragops-default-collection">`, RAGOPS_DEFAULT_COLLECTION)."""

from __future__ import annotations

import html
from importlib.resources import files

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

_PAGE = files("ragops.web").joinpath("static/index.html")


_AUTH_META = '<meta name="ragops-auth" content="required">'
_COLLECTION_META = '<meta name="ragops-default-collection" content="default">'


@router.get("/", response_class=HTMLResponse)
async def chat_page(request: Request) -> HTMLResponse:
    """The chat page."""
    page = _PAGE.read_text(encoding="utf-8")
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is not None and not runtime.settings.auth_enabled:
        page = page.replace(_AUTH_META, _AUTH_META.replace("required", "off"))
    if runtime is not None and runtime.settings.default_collection != "default":
        chosen = html.escape(runtime.settings.default_collection, quote=True)
        page = page.replace(_COLLECTION_META, _COLLECTION_META.replace('"default"', f'"{chosen}"'))
    return HTMLResponse(page)
