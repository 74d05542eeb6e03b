"""The interactive API documentation, served whole from this process: `/docs` (Swagger UI) and
`/redoc` (ReDoc) load their scripts and styles from `/docs/assets/`, files shipped inside the
`fastapi-offline` package, never from a CDN, so the pages work offline and under a CSP that
allows only this origin (see `security.headers`).

Both pages, the assets and `/openapi.json` are served only while the documentation is on
(`RAGOPS_DOCS_ENABLED`, by default everywhere but production).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs/assets"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"


def assets_dir() -> Path:
    """The folder of the packaged Swagger UI and ReDoc files."""
    return Path(str(files("fastapi_offline").joinpath("static")))


def install_docs(
    app: FastAPI, *, docs_url: str | None, redoc_url: str | None, openapi_url: str | None
) -> None:
    """Serve the documentation pages at `docs_url` and `redoc_url` (None: not served)."""
    if openapi_url is None or (docs_url is None and redoc_url is None):
        return
    app.mount(ASSETS_URL, StaticFiles(directory=assets_dir()), name="docs-assets")

    def base(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    if docs_url is not None:

        @app.get(docs_url, include_in_schema=False)
        async def swagger_ui(request: Request) -> HTMLResponse:
            root = base(request)
            return get_swagger_ui_html(
                openapi_url=root + openapi_url,
                title=f"{app.title} - Swagger UI",
                swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
                swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                oauth2_redirect_url=root + OAUTH2_REDIRECT_URL,
            )

        @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
        async def swagger_ui_redirect() -> HTMLResponse:
            return get_swagger_ui_oauth2_redirect_html()

    if redoc_url is not None:

        @app.get(redoc_url, include_in_schema=False)
        async def redoc(request: Request) -> HTMLResponse:
            root = base(request)
            return get_redoc_html(
                openapi_url=root + openapi_url,
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                with_google_fonts=False,
            )
